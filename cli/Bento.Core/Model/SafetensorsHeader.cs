using System.Buffers.Binary;
using System.Text.Json;

namespace Bento.Core.Model;

/// <summary>One tensor as a safetensors header describes it; offsets are relative to the data buffer.</summary>
public sealed record SafetensorsTensor(string Name, string DType, long[] Shape, long Begin, long End)
{
    public long ElementCount => Shape.Aggregate(1L, (a, b) => checked(a * b));
}

/// <summary>
/// Reads and checks a safetensors header without touching the tensor data: only the first 8+N bytes are read, so
/// validating a 10 GB shard costs one small read. Checks that every claim the header makes fits the file.
/// </summary>
public sealed record SafetensorsHeader(string FilePath, long HeaderLength, long DataOffset, IReadOnlyList<SafetensorsTensor> Tensors)
{
    public static readonly IReadOnlyDictionary<string, int> DTypeSizes = new Dictionary<string, int>
    {
        ["BOOL"] = 1, ["U8"] = 1, ["I8"] = 1, ["F8_E4M3"] = 1, ["F8_E5M2"] = 1,
        ["I16"] = 2, ["U16"] = 2, ["F16"] = 2, ["BF16"] = 2,
        ["I32"] = 4, ["U32"] = 4, ["F32"] = 4,
        ["I64"] = 8, ["U64"] = 8, ["F64"] = 8,
    };

    public static async Task<SafetensorsHeader> ReadAsync(string path, CancellationToken ct = default)
    {
        var display = Spec.BentofileParser.DisplayPath(path);
        IO.InputFile.RequireRegular(path);
        await using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.Asynchronous);
        var fileLength = file.Length;
        if (fileLength < 8)
            throw Bad(display, $"the file is {fileLength} bytes long, too short for the 8-byte header length (truncated?)");

        var prefix = new byte[8];
        await file.ReadExactlyAsync(prefix, ct);
        var headerLength = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
        var limit = InputLimits.SafetensorsHeaderBytes;
        if (headerLength > (ulong)limit.Value)
            throw Bad(display, $"the header claims {headerLength} bytes, over the {limit.Size} limit for a safetensors header " +
                               $"(corrupt or not a safetensors file; {limit.RaiseHint} if it is genuine)");
        if ((long)headerLength > fileLength - 8)
            throw Bad(display, $"the header claims {headerLength} bytes but the file holds {fileLength - 8} after the length prefix (truncated or not a safetensors file)");

        var headerBytes = new byte[headerLength];
        await file.ReadExactlyAsync(headerBytes, ct);
        var dataOffset = 8 + (long)headerLength;
        var dataLength = fileLength - dataOffset;

        List<SafetensorsTensor> tensors;
        try { tensors = ParseHeader(headerBytes); }
        catch (JsonException e) { throw Bad(display, $"the header is not valid JSON ({e.Message})"); }
        catch (FormatException e) { throw Bad(display, e.Message); }

        CheckLayout(display, tensors, dataLength);
        return new SafetensorsHeader(path, (long)headerLength, dataOffset, tensors);
    }

    private static List<SafetensorsTensor> ParseHeader(byte[] header)
    {
        using var doc = JsonDocument.Parse(header);
        if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new FormatException("the header is not a JSON object");
        var tensors = new List<SafetensorsTensor>();
        foreach (var property in doc.RootElement.EnumerateObject())
        {
            if (property.Name == "__metadata__") continue;
            var t = property.Value;
            if (t.ValueKind != JsonValueKind.Object ||
                !t.TryGetProperty("dtype", out var dtype) || dtype.ValueKind != JsonValueKind.String ||
                !t.TryGetProperty("shape", out var shape) || shape.ValueKind != JsonValueKind.Array ||
                !t.TryGetProperty("data_offsets", out var offsets) || offsets.ValueKind != JsonValueKind.Array || offsets.GetArrayLength() != 2)
                throw new FormatException($"tensor '{property.Name}' needs 'dtype', 'shape' and a two-element 'data_offsets'");
            var dims = shape.EnumerateArray().Select(d => d.TryGetInt64(out var v) && v >= 0 ? v
                : throw new FormatException($"tensor '{property.Name}' has a shape entry that is not a non-negative integer")).ToArray();
            var begin = offsets[0].TryGetInt64(out var b) ? b : -1;
            var end = offsets[1].TryGetInt64(out var e) ? e : -1;
            tensors.Add(new SafetensorsTensor(property.Name, dtype.GetString()!, dims, begin, end));
        }
        return tensors;
    }

    private static void CheckLayout(string display, List<SafetensorsTensor> tensors, long dataLength)
    {
        foreach (var t in tensors)
        {
            if (!DTypeSizes.TryGetValue(t.DType, out var size))
                throw Bad(display, $"tensor '{t.Name}' has unknown dtype '{t.DType}' (expected one of {string.Join(", ", DTypeSizes.Keys)})");
            long expected;
            try { expected = checked(t.ElementCount * size); }
            catch (OverflowException) { throw Bad(display, $"tensor '{t.Name}' has an impossibly large shape [{string.Join(", ", t.Shape)}]"); }
            if (t.Begin < 0 || t.End < t.Begin)
                throw Bad(display, $"tensor '{t.Name}' has invalid data_offsets [{t.Begin}, {t.End}]");
            if (t.End - t.Begin != expected)
                throw Bad(display, $"tensor '{t.Name}' ({t.DType} [{string.Join(", ", t.Shape)}]) needs {expected} bytes but data_offsets [{t.Begin}, {t.End}] span {t.End - t.Begin}");
            if (t.End > dataLength)
                throw Bad(display, $"tensor '{t.Name}' ends at byte {t.End} of the data but the file holds only {dataLength} bytes of data (truncated?)");
        }
        // The format requires the buffer to be fully indexed: contiguous, non-overlapping, no trailing bytes.
        long position = 0;
        foreach (var t in tensors.OrderBy(t => t.Begin).ThenBy(t => t.End))
        {
            if (t.Begin != position)
                throw Bad(display, t.Begin < position
                    ? $"tensor '{t.Name}' overlaps the previous tensor (starts at {t.Begin}, previous ends at {position})"
                    : $"there is a gap of {t.Begin - position} bytes before tensor '{t.Name}'");
            position = t.End;
        }
        if (position != dataLength)
            throw Bad(display, $"the header describes {position} bytes of tensor data but the file holds {dataLength} (trailing bytes or a lying header)");
    }

    private static BentoException Bad(string display, string message) =>
        new($"{display}: not a valid safetensors file: {message}");
}
