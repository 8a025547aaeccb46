using System.Buffers.Binary;
using System.Text.Json;

namespace Bento.ModelGen.Tests;

/// <summary>
/// An independent reader of safetensors files for the tests, written from the format description rather
/// than from the writer, so the two check each other.
/// </summary>
internal sealed class SafetensorsFile
{
    public required string Path { get; init; }
    public required long HeaderLength { get; init; }
    public required long FileLength { get; init; }
    public required IReadOnlyDictionary<string, string> Metadata { get; init; }

    /// <summary>Tensors in header (= data) order.</summary>
    public required IReadOnlyList<Entry> Tensors { get; init; }

    public long DataStart => 8 + HeaderLength;

    public Entry this[string name] => Tensors.Single(t => t.Name == name);

    public sealed record Entry(string Name, string DType, long[] Shape, long Begin, long End);

    public static SafetensorsFile Read(string path)
    {
        using var stream = File.OpenRead(path);
        var prefix = new byte[8];
        stream.ReadExactly(prefix);
        var headerLength = checked((long)BinaryPrimitives.ReadUInt64LittleEndian(prefix));
        var header = new byte[headerLength];
        stream.ReadExactly(header);
        using var json = JsonDocument.Parse(header);

        var metadata = new Dictionary<string, string>();
        var tensors = new List<Entry>();
        foreach (var property in json.RootElement.EnumerateObject())
        {
            if (property.Name == "__metadata__")
            {
                foreach (var m in property.Value.EnumerateObject())
                    metadata[m.Name] = m.Value.GetString()!;
                continue;
            }
            var offsets = property.Value.GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt64()).ToArray();
            tensors.Add(new Entry(
                property.Name,
                property.Value.GetProperty("dtype").GetString()!,
                property.Value.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()).ToArray(),
                offsets[0],
                offsets[1]));
        }
        return new SafetensorsFile
        {
            Path = path,
            HeaderLength = headerLength,
            FileLength = stream.Length,
            Metadata = metadata,
            Tensors = tensors,
        };
    }

    public byte[] ReadBytes(Entry entry)
    {
        using var stream = File.OpenRead(Path);
        stream.Position = DataStart + entry.Begin;
        var data = new byte[entry.End - entry.Begin];
        stream.ReadExactly(data);
        return data;
    }

    public float[] ReadFloat32(string name)
    {
        var entry = this[name];
        Assert.Equal("F32", entry.DType);
        var bytes = ReadBytes(entry);
        var values = new float[bytes.Length / 4];
        for (var i = 0; i < values.Length; i++)
            values[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(i * 4));
        return values;
    }
}
