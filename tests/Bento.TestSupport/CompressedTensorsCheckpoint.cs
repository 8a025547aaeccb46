using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Bento.TestSupport;

/// <summary>
/// Turns a float safetensors model folder into a checkpoint laid out the way llm-compressor saves an int8
/// weight-only ("W8A16") model with compressed-tensors, independently of BentoBuilder's own quantizer: its observer's
/// arithmetic (scale = max|w| / 127.5, q = clamp(round(w / scale), -128, 127)), int32 words packed with integer
/// shifts (value i of a word in bits 8i..8i+7, each q + 128) for "pack-quantized" or plain I8 for "int-quantized",
/// scales in the model's float dtype ([out, 1] per channel, [out, in / group] per group), weight_shape as I64, the
/// Linear layers targeted and lm_head ignored. What published W8A16 repositories hold, at test size.
/// </summary>
public static class CompressedTensorsCheckpoint
{
    public static void Write(string denseDirectory, string outputDirectory, string format = "pack-quantized", int? groupSize = null)
    {
        Directory.CreateDirectory(outputDirectory);
        foreach (var file in Directory.EnumerateFiles(denseDirectory))
            if (Path.GetFileName(file) is not ("model.safetensors" or "config.json"))
                File.Copy(file, Path.Combine(outputDirectory, Path.GetFileName(file)), overwrite: true);

        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(denseDirectory, "config.json")))!.AsObject();
        var scaleDtype = config["torch_dtype"]?.GetValue<string>() switch { "bfloat16" => "BF16", "float16" => "F16", _ => "F32" };
        config["quantization_config"] = JsonNode.Parse($$"""
            {
              "config_groups": {
                "group_0": {
                  "input_activations": null, "output_activations": null, "targets": ["Linear"],
                  "weights": {"actorder": null, "block_structure": null, "dynamic": false, "group_size": {{(groupSize is { } gs ? gs.ToString() : "null")}},
                              "num_bits": 8, "observer": "minmax", "observer_kwargs": {}, "strategy": "{{(groupSize is null ? "channel" : "group")}}",
                              "symmetric": true, "type": "int"}
                }
              },
              "format": "{{format}}", "global_compression_ratio": 1.9, "ignore": ["lm_head"], "kv_cache_scheme": null,
              "quant_method": "compressed-tensors", "quantization_status": "compressed"
            }
            """);
        File.WriteAllText(Path.Combine(outputDirectory, "config.json"), config.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));

        var tensors = new List<(string Name, string DType, long[] Shape, byte[] Data)>();
        foreach (var (name, dtype, shape, data) in Read(Path.Combine(denseDirectory, "model.safetensors")))
        {
            var isLinear = shape.Length == 2 && name.EndsWith("_proj.weight", StringComparison.Ordinal);
            if (!isLinear)
            {
                tensors.Add((name, dtype, shape, data));
                continue;
            }
            var stem = name[..^".weight".Length];
            int rows = (int)shape[0], columns = (int)shape[1], size = groupSize ?? columns, groups = columns / size;
            var values = ToFloats(data, dtype);
            var q = new sbyte[rows * columns];
            var scales = new float[rows * groups];
            for (var r = 0; r < rows; r++)
                for (var g = 0; g < groups; g++)
                {
                    double max = 0;
                    for (var c = g * size; c < (g + 1) * size; c++) max = Math.Max(max, Math.Abs(values[r * columns + c]));
                    var scale = RoundToDtype((float)(max / 127.5), scaleDtype);
                    scales[r * groups + g] = scale;
                    for (var c = g * size; c < (g + 1) * size; c++)
                        q[r * columns + c] = (sbyte)Math.Clamp(Math.Round(values[r * columns + c] / scale), -128, 127);
                }
            if (format == "pack-quantized")
            {
                var words = new byte[rows * columns];
                for (var r = 0; r < rows; r++)
                    for (var j = 0; j < columns / 4; j++)
                    {
                        uint word = 0;
                        for (var i = 0; i < 4; i++) word |= (uint)(q[r * columns + 4 * j + i] + 128) << (8 * i);
                        BinaryPrimitives.WriteUInt32LittleEndian(words.AsSpan((r * (columns / 4) + j) * 4), word);
                    }
                tensors.Add((stem + ".weight_packed", "I32", [rows, columns / 4], words));
                var shapeBytes = new byte[16];
                BinaryPrimitives.WriteInt64LittleEndian(shapeBytes, rows);
                BinaryPrimitives.WriteInt64LittleEndian(shapeBytes.AsSpan(8), columns);
                tensors.Add((stem + ".weight_shape", "I64", [2], shapeBytes));
            }
            else
                tensors.Add((name, "I8", shape, q.Select(v => (byte)v).ToArray()));
            tensors.Add((stem + ".weight_scale", scaleDtype, [rows, groups], FromFloats(scales, scaleDtype)));
        }
        WriteSafetensors(Path.Combine(outputDirectory, "model.safetensors"), tensors);
    }

    /// <summary>The tensors of a safetensors file, in data order (test-sized files: read whole).</summary>
    public static IEnumerable<(string Name, string DType, long[] Shape, byte[] Data)> Read(string path)
    {
        var bytes = File.ReadAllBytes(path);
        var n = (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        using var header = JsonDocument.Parse(bytes.AsMemory(8, n));
        foreach (var t in header.RootElement.EnumerateObject().Where(p => p.Name != "__metadata__")
                     .OrderBy(p => p.Value.GetProperty("data_offsets")[0].GetInt64()))
        {
            var offsets = t.Value.GetProperty("data_offsets");
            long begin = offsets[0].GetInt64(), end = offsets[1].GetInt64();
            yield return (t.Name, t.Value.GetProperty("dtype").GetString()!, t.Value.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()).ToArray(),
                bytes.AsSpan((int)(8 + n + begin), (int)(end - begin)).ToArray());
        }
    }

    public static float[] ToFloats(byte[] data, string dtype) => dtype switch
    {
        "F32" => Enumerable.Range(0, data.Length / 4).Select(i => BinaryPrimitives.ReadSingleLittleEndian(data.AsSpan(i * 4))).ToArray(),
        "BF16" => Enumerable.Range(0, data.Length / 2).Select(i => BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(data.AsSpan(i * 2)) << 16)).ToArray(),
        "F16" => Enumerable.Range(0, data.Length / 2).Select(i => (float)BinaryPrimitives.ReadHalfLittleEndian(data.AsSpan(i * 2))).ToArray(),
        _ => throw new ArgumentException($"not a float dtype: {dtype}"),
    };

    private static byte[] FromFloats(float[] values, string dtype)
    {
        var size = dtype == "F32" ? 4 : 2;
        var bytes = new byte[values.Length * size];
        for (var i = 0; i < values.Length; i++)
            switch (dtype)
            {
                case "F32": BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), values[i]); break;
                case "BF16": BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(i * 2), (ushort)(BitConverter.SingleToInt32Bits(values[i]) >> 16)); break;
                default: BinaryPrimitives.WriteHalfLittleEndian(bytes.AsSpan(i * 2), (Half)values[i]); break;
            }
        return bytes;
    }

    /// <summary>A scale as the checkpoint stores it (bfloat16 truncated exactly, since its values are then used as stored).</summary>
    private static float RoundToDtype(float value, string dtype) => dtype switch
    {
        "BF16" => BitConverter.Int32BitsToSingle(BitConverter.SingleToInt32Bits(value) & unchecked((int)0xFFFF0000)),
        "F16" => (float)(Half)value,
        _ => value,
    };

    private static void WriteSafetensors(string path, List<(string Name, string DType, long[] Shape, byte[] Data)> tensors)
    {
        var header = new JsonObject { ["__metadata__"] = new JsonObject { ["format"] = "pt" } };
        long offset = 0;
        foreach (var t in tensors)
        {
            header[t.Name] = new JsonObject
            {
                ["dtype"] = t.DType,
                ["shape"] = new JsonArray(t.Shape.Select(d => (JsonNode)d).ToArray()),
                ["data_offsets"] = new JsonArray(offset, offset + t.Data.Length),
            };
            offset += t.Data.Length;
        }
        var json = Encoding.UTF8.GetBytes(header.ToJsonString());
        var padded = (json.Length + 7) / 8 * 8;
        using var file = File.Create(path);
        var prefix = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(prefix, (ulong)padded);
        file.Write(prefix);
        file.Write(json);
        for (var i = json.Length; i < padded; i++) file.WriteByte((byte)' ');
        foreach (var t in tensors) file.Write(t.Data);
    }
}
