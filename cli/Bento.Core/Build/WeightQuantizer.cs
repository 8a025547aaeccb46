using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Bento.Core.IO;
using Bento.Core.Model;
using Microsoft.Win32.SafeHandles;

namespace Bento.Core.Build;

/// <summary>
/// <c>bento build</c> with <c>model: {quantize: int8}</c>: writes an int8 copy of a validated model folder's weights in
/// compressed-tensors' pack-quantized layout (what llm-compressor writes for W8A16 models; see
/// <see cref="WeightQuantization"/>), with config.json (plus quantization_config) and the shard index rewritten to
/// match; tokenizer and other files are taken as they are. Every matrix of the layout is quantized (the embedding too,
/// which is also the head of tied models), norms and biases are copied unchanged.
/// </summary>
/// <remarks>
/// Symmetric round-to-nearest: scale = max|w| / 127 per output channel (or per group of columns), q = round(w / scale)
/// (ties to even), all in float32 arithmetic, which IEEE 754 makes exact and therefore the same on every machine: the
/// same input gives the same bytes, so the same bento version. Tensors are streamed a few MiB of rows at a time (never
/// a weight file in managed memory); each output file is written under a temporary name and renamed when complete.
/// </remarks>
public static class WeightQuantizer
{
    /// <summary>Source bytes per chunk of rows read, quantized and written at once.</summary>
    private const int ChunkBytes = 4 << 20;

    public static async Task<ModelFolder> QuantizeAsync(ModelFolder source, QuantizationScheme scheme, string outputDirectory,
        IBuildObserver? observer = null, CancellationToken ct = default)
    {
        var configFile = source.Files.First(f => f.Role == ModelFileRole.Config);
        if (source.Config.Quantization is { } already)
            throw new BentoException($"{Spec.BentofileParser.DisplayPath(configFile.FullPath)}: quantization_config: the checkpoint is already quantized " +
                                     $"({already.Describe()}); remove 'quantize: {scheme.Name}' from the bentofile's model to serve it as it is");
        var quantization = scheme.ToConfig();
        // The parts the runtime does not serve (a vision tower) are copied as they are; the config says so, for any
        // compressed-tensors loader.
        if (source.Config.Family.IgnoredTensorPrefixes.Count > 0)
            quantization = quantization with
            {
                Ignore = source.Config.Family.IgnoredTensorPrefixes.Select(p => "re:" + System.Text.RegularExpressions.Regex.Escape(p) + ".*").ToList(),
            };
        var config = source.Config with { Quantization = quantization };
        var layout = TensorLayout.For(config);
        // By stored name: a multimodal checkpoint keeps its own names (language_model.model...) for the matrices of the
        // layout's (canonical) names; its vision tower is copied as it is.
        var layoutNames = TensorLayout.Matrices(config).Where(m => quantization.Quantizes(m.Module, m.IsEmbedding, config.Family.StoredTensorNames(m.Module)))
            .Select(m => m.Module + ".weight").ToHashSet(StringComparer.Ordinal);
        bool Quantized(string stored) => config.Family.CanonicalTensorName(stored) is { } name && layoutNames.Contains(name);

        Directory.CreateDirectory(outputDirectory);
        var files = new List<ModelFile>();
        var headers = new List<SafetensorsHeader>();
        var weightMap = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var file in source.Files)
        {
            ct.ThrowIfCancellationRequested();
            var output = Path.Combine(outputDirectory, file.RelativePath);
            switch (file.Role)
            {
                case ModelFileRole.Weights:
                    observer?.Message($"quantizing {file.RelativePath} to {scheme.Name}");
                    var header = await SafetensorsHeader.ReadAsync(file.FullPath, ct);
                    await WriteQuantizedAsync(header, output, Quantized, scheme, ct);
                    var written = await SafetensorsHeader.ReadAsync(output, ct);
                    headers.Add(written);
                    foreach (var t in written.Tensors) weightMap[t.Name] = file.RelativePath;
                    break;
                case ModelFileRole.Config:
                    WriteJson(output, JsonWithQuantization(file.FullPath, quantization));
                    break;
                case ModelFileRole.WeightIndex:
                    continue; // written below, once every shard's tensors are known
                default:
                    files.Add(file);
                    continue;
            }
            files.Add(file with { FullPath = output });
        }
        if (source.Files.FirstOrDefault(f => f.Role == ModelFileRole.WeightIndex) is { } index)
        {
            var output = Path.Combine(outputDirectory, index.RelativePath);
            WriteJson(output, RewrittenIndex(index.FullPath, weightMap, headers));
            files.Add(index with { FullPath = output });
        }
        // The same check a build of this folder would make: a quantizer bug must not produce a bento that cannot serve.
        ModelInspector.CheckTensors(outputDirectory, config, headers.ToArray(),
            source.Files.Any(f => f.Role == ModelFileRole.WeightIndex) ? weightMap : null);
        return source with { Config = config, Files = files, Parameters = layout.Parameters };
    }

    /// <summary>
    /// The quantized folder of an earlier build of the same source (<see cref="QuantizedWeightsCache"/>): its stored
    /// blobs in place of the rewritten files; null when they do not cover every rewritten file.
    /// </summary>
    public static ModelFolder? Reuse(ModelFolder source, QuantizationScheme scheme, IReadOnlyList<(string RelativePath, string BlobPath)> outputs)
    {
        var blobs = outputs.ToDictionary(o => o.RelativePath, o => o.BlobPath, StringComparer.Ordinal);
        var rewritten = source.Files.Where(QuantizedWeightsCache.IsRewritten).ToList();
        if (rewritten.Count != blobs.Count || rewritten.Any(f => !blobs.ContainsKey(f.RelativePath))) return null;
        return source with
        {
            Config = source.Config with { Quantization = scheme.ToConfig() },
            Files = source.Files.Select(f => QuantizedWeightsCache.IsRewritten(f) ? f with { FullPath = blobs[f.RelativePath] } : f).ToList(),
        };
    }

    private static JsonNode JsonWithQuantization(string configPath, WeightQuantization quantization)
    {
        var config = JsonNode.Parse(InputFile.ReadAllBytes(configPath, InputLimits.ModelJsonBytes, "config.json"))!.AsObject();
        config["quantization_config"] = quantization.ToJson();
        return config;
    }

    private static JsonNode RewrittenIndex(string indexPath, IReadOnlyDictionary<string, string> weightMap, List<SafetensorsHeader> headers)
    {
        var index = JsonNode.Parse(InputFile.ReadAllBytes(indexPath, InputLimits.ModelJsonBytes, Path.GetFileName(indexPath)))!.AsObject();
        var metadata = index["metadata"] as JsonObject ?? new JsonObject();
        metadata["total_size"] = headers.Sum(h => h.Tensors.Sum(t => t.End - t.Begin));
        index["metadata"] = metadata.DeepClone();
        index["weight_map"] = new JsonObject(weightMap.Select(e => KeyValuePair.Create(e.Key, (JsonNode?)e.Value)));
        return index;
    }

    private static void WriteJson(string path, JsonNode node)
    {
        var temp = path + ".tmp";
        File.WriteAllText(temp, node.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n", new UTF8Encoding(false));
        File.Move(temp, path, overwrite: true);
    }

    /// <summary>One tensor of the output file: where its bytes come from and where they go.</summary>
    private sealed record Planned(string Name, string DType, long[] Shape, long Begin, long End, SafetensorsTensor Source, Part Part);

    private enum Part { Copy, Packed, Scale, Shape }

    private static async Task WriteQuantizedAsync(SafetensorsHeader source, string output, Func<string, bool> quantized, QuantizationScheme scheme, CancellationToken ct)
    {
        var plan = new List<Planned>();
        long offset = 0;
        void Add(string name, string dtype, long[] shape, long bytes, SafetensorsTensor from, Part part)
        {
            plan.Add(new Planned(name, dtype, shape, offset, offset + bytes, from, part));
            offset += bytes;
        }
        foreach (var t in source.Tensors.OrderBy(t => t.Begin).ThenBy(t => t.Name, StringComparer.Ordinal))
        {
            if (!quantized(t.Name))
            {
                Add(t.Name, t.DType, t.Shape, t.End - t.Begin, t, Part.Copy);
                continue;
            }
            var stem = t.Name[..^".weight".Length];
            long rows = t.Shape[0], columns = t.Shape[1], groups = columns / (scheme.GroupSize ?? (int)columns);
            Add(stem + ".weight_packed", "I32", [rows, columns / 4], rows * columns, t, Part.Packed);
            Add(stem + ".weight_scale", "F32", [rows, groups], rows * groups * 4, t, Part.Scale);
            Add(stem + ".weight_shape", "I32", [2], 8, t, Part.Shape);
        }

        var header = HeaderBytes(plan);
        var temp = output + ".tmp";
        try
        {
            using (var target = File.OpenHandle(temp, FileMode.Create, FileAccess.ReadWrite, FileShare.None, FileOptions.None, 8 + header.Length + offset))
            using (var input = File.OpenHandle(source.FilePath, FileMode.Open, FileAccess.Read, FileShare.Read))
            {
                var prefix = new byte[8];
                BinaryPrimitives.WriteUInt64LittleEndian(prefix, (ulong)header.Length);
                RandomAccess.Write(target, prefix, 0);
                RandomAccess.Write(target, header, 8);
                var data = 8L + header.Length;
                foreach (var p in plan)
                {
                    ct.ThrowIfCancellationRequested();
                    var from = source.DataOffset + p.Source.Begin;
                    switch (p.Part)
                    {
                        case Part.Copy:
                            await CopyAsync(input, from, target, data + p.Begin, p.End - p.Begin, ct);
                            break;
                        case Part.Packed:
                            var scales = plan.Single(s => s.Part == Part.Scale && s.Source == p.Source);
                            Quantize(input, from, p.Source, target, data + p.Begin, data + scales.Begin, scheme, source.FilePath);
                            break;
                        case Part.Shape:
                            var shape = new byte[8];
                            BinaryPrimitives.WriteInt32LittleEndian(shape, checked((int)p.Source.Shape[0]));
                            BinaryPrimitives.WriteInt32LittleEndian(shape.AsSpan(4), checked((int)p.Source.Shape[1]));
                            RandomAccess.Write(target, shape, data + p.Begin);
                            break;
                    }
                }
                RandomAccess.FlushToDisk(target);
            }
            File.Move(temp, output, overwrite: true);
        }
        catch
        {
            AtomicFile.TryDelete(temp);
            throw;
        }
    }

    /// <summary>The header JSON (metadata first, then tensors in data order), padded with spaces to 8 bytes.</summary>
    private static byte[] HeaderBytes(List<Planned> plan)
    {
        var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteStartObject("__metadata__");
            w.WriteString("format", "pt");
            w.WriteEndObject();
            foreach (var p in plan)
            {
                w.WriteStartObject(p.Name);
                w.WriteString("dtype", p.DType);
                w.WriteStartArray("shape");
                foreach (var d in p.Shape) w.WriteNumberValue(d);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(p.Begin);
                w.WriteNumberValue(p.End);
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndObject();
        }
        var length = (buffer.Length + 7) / 8 * 8;
        while (buffer.Length < length) buffer.WriteByte((byte)' ');
        return buffer.ToArray();
    }

    private static async Task CopyAsync(SafeFileHandle input, long from, SafeFileHandle output, long to, long length, CancellationToken ct)
    {
        var buffer = new byte[(int)Math.Min(ChunkBytes, Math.Max(1, length))];
        for (long done = 0; done < length;)
        {
            var n = (int)Math.Min(buffer.Length, length - done);
            await ReadExactlyAsync(input, buffer.AsMemory(0, n), from + done, ct);
            await RandomAccess.WriteAsync(output, buffer.AsMemory(0, n), to + done, ct);
            done += n;
        }
    }

    private static async ValueTask ReadExactlyAsync(SafeFileHandle handle, Memory<byte> buffer, long offset, CancellationToken ct)
    {
        for (var read = 0; read < buffer.Length;)
        {
            var n = await RandomAccess.ReadAsync(handle, buffer[read..], offset + read, ct);
            if (n == 0) throw new EndOfStreamException($"unexpected end of file at byte {offset + read}");
            read += n;
        }
    }

    /// <summary>
    /// Quantizes tensor <paramref name="t"/> (F32, BF16 or F16 [rows, columns] at <paramref name="from"/>) chunk by
    /// chunk: the bytes q + 128 go to <paramref name="packedAt"/> (row-major: exactly compressed-tensors' int32 words
    /// in little-endian order), the float32 scales [rows, groups] to <paramref name="scalesAt"/>.
    /// </summary>
    private static void Quantize(SafeFileHandle input, long from, SafetensorsTensor t, SafeFileHandle output, long packedAt, long scalesAt,
        QuantizationScheme scheme, string sourcePath)
    {
        int rows = checked((int)t.Shape[0]), columns = checked((int)t.Shape[1]);
        var elementSize = SafetensorsHeader.DTypeSizes[t.DType];
        var groupSize = scheme.GroupSize ?? columns;
        var groups = columns / groupSize;
        var rowsPerChunk = Math.Max(1, ChunkBytes / (columns * elementSize));
        var raw = new byte[(long)Math.Min(rowsPerChunk, rows) * columns * elementSize];
        var packed = new byte[(long)Math.Min(rowsPerChunk, rows) * columns];
        var scales = new byte[(long)Math.Min(rowsPerChunk, rows) * groups * 4];
        for (var first = 0; first < rows; first += rowsPerChunk)
        {
            var count = Math.Min(rowsPerChunk, rows - first);
            ReadExactlyAsync(input, raw.AsMemory(0, count * columns * elementSize), from + (long)first * columns * elementSize, default)
                .AsTask().GetAwaiter().GetResult();
            try
            {
                Parallel.For(0, count, () => new float[columns], (r, _, values) =>
            {
                Widen(raw.AsSpan(r * columns * elementSize, columns * elementSize), t.DType, values);
                for (var g = 0; g < groups; g++)
                {
                    var group = values.AsSpan(g * groupSize, groupSize);
                    var max = 0f;
                    foreach (var v in group)
                    {
                        if (!float.IsFinite(v))
                            throw new BentoException($"{Spec.BentofileParser.DisplayPath(sourcePath)}: tensor '{t.Name}' holds {v} in row {first + r}: weights must be finite to be quantized");
                        max = Math.Max(max, Math.Abs(v));
                    }
                    // A group of (sub)normal values so small that max / 127 is not a normal float would divide by zero
                    // or by one ulp: such a group is zero at int8 precision (scale 1, every q 0). The clamp keeps
                    // |q| <= 127 where max / 127 rounds down.
                    var scale = max / 127f;
                    if (!float.IsNormal(scale)) scale = 1f;
                    BinaryPrimitives.WriteSingleLittleEndian(scales.AsSpan((r * groups + g) * 4), scale);
                    var q = packed.AsSpan(r * columns + g * groupSize, groupSize);
                    for (var i = 0; i < groupSize; i++)
                        q[i] = (byte)(Math.Clamp((int)MathF.Round(group[i] / scale, MidpointRounding.ToEven), -127, 127) + 128);
                }
                return values;
            }, _ => { });
            }
            catch (AggregateException e) when (e.InnerExceptions.FirstOrDefault() is BentoException inner)
            {
                throw inner;
            }
            RandomAccess.Write(output, packed.AsSpan(0, count * columns), packedAt + (long)first * columns);
            RandomAccess.Write(output, scales.AsSpan(0, count * groups * 4), scalesAt + (long)first * groups * 4);
        }
    }

    private static void Widen(ReadOnlySpan<byte> bytes, string dtype, Span<float> values)
    {
        switch (dtype)
        {
            case "F32":
                for (var i = 0; i < values.Length; i++) values[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes[(i * 4)..]);
                break;
            case "BF16":
                for (var i = 0; i < values.Length; i++) values[i] = BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(bytes[(i * 2)..]) << 16);
                break;
            case "F16":
                for (var i = 0; i < values.Length; i++) values[i] = (float)BinaryPrimitives.ReadHalfLittleEndian(bytes[(i * 2)..]);
                break;
            default:
                throw new BentoException($"weights of dtype {dtype} cannot be quantized (F32, BF16 or F16)");
        }
    }
}
