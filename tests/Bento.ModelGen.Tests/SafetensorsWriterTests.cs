using System.Buffers.Binary;

namespace Bento.ModelGen.Tests;

public class SafetensorsWriterTests
{
    private static IReadOnlyList<TensorSource> SampleTensors() =>
    [
        // Deliberately unsorted, mixed dtypes and odd sizes so padding and ordering are exercised.
        TensorSource.FromFloats("zeta", "F32", [2, 3], new float[] { 1, 2, 3, 4, 5, 6 }),
        TensorSource.FromFloats("alpha", "F16", [3], new float[] { 1, -2, 0.5f }),
        TensorSource.FromFloats("mid.bias", "BF16", [1, 1, 5], new float[] { 1, 2, 3, 4, 5 }),
        TensorSource.Constant("scalar", "F32", [], 7f),
    ];

    [Fact]
    public async Task HeaderParsesAndLayoutFollowsTheFormat()
    {
        using var dir = new TempDirectory();
        var path = dir.Combine("t.safetensors");
        var size = await SafetensorsWriter.WriteAsync(path, SampleTensors());

        var file = SafetensorsFile.Read(path);
        Assert.Equal(size, file.FileLength);
        Assert.Equal(0, (8 + file.HeaderLength) % 8);
        Assert.Equal("pt", file.Metadata["format"]);
        // Sorted by name, offsets contiguous from 0, file = 8 + N + data.
        Assert.Equal(new[] { "alpha", "mid.bias", "scalar", "zeta" }, file.Tensors.Select(t => t.Name));
        long expectedBegin = 0;
        foreach (var t in file.Tensors)
        {
            Assert.Equal(expectedBegin, t.Begin);
            expectedBegin = t.End;
        }
        Assert.Equal(8 + file.HeaderLength + expectedBegin, file.FileLength);

        Assert.Equal(new long[] { 2, 3 }, file["zeta"].Shape);
        Assert.Equal(new long[] { 1, 1, 5 }, file["mid.bias"].Shape);
        Assert.Empty(file["scalar"].Shape);
        Assert.Equal(("F16", 6L), (file["alpha"].DType, file["alpha"].End - file["alpha"].Begin));
        Assert.Equal(("BF16", 10L), (file["mid.bias"].DType, file["mid.bias"].End - file["mid.bias"].Begin));

        Assert.Equal(new float[] { 1, 2, 3, 4, 5, 6 }, file.ReadFloat32("zeta"));
        Assert.Equal(new float[] { 7 }, file.ReadFloat32("scalar"));
        var half = file.ReadBytes(file["alpha"]);
        Assert.Equal(new float[] { 1, -2, 0.5f },
            Enumerable.Range(0, 3).Select(i => FloatConversion.FromFloat16Bits(BinaryPrimitives.ReadUInt16LittleEndian(half.AsSpan(i * 2)))));
        var bf = file.ReadBytes(file["mid.bias"]);
        Assert.Equal(new float[] { 1, 2, 3, 4, 5 },
            Enumerable.Range(0, 5).Select(i => FloatConversion.FromBFloat16Bits(BinaryPrimitives.ReadUInt16LittleEndian(bf.AsSpan(i * 2)))));

        Assert.False(File.Exists(path + ".tmp"));
    }

    [Fact]
    public async Task HeaderIsPaddedWithSpaces()
    {
        using var dir = new TempDirectory();
        var path = dir.Combine("t.safetensors");
        await SafetensorsWriter.WriteAsync(path, SampleTensors());
        var header = SafetensorsWriter.BuildHeader(SampleTensors());
        var bytes = await File.ReadAllBytesAsync(path);
        Assert.Equal((ulong)header.Length, BinaryPrimitives.ReadUInt64LittleEndian(bytes));
        Assert.Equal(header, bytes.AsSpan(8, header.Length).ToArray());
        var jsonEnd = Array.LastIndexOf(header, (byte)'}');
        Assert.All(header.Skip(jsonEnd + 1), b => Assert.Equal((byte)' ', b));
        Assert.InRange(header.Length - jsonEnd - 1, 0, 7);
    }

    [Fact]
    public async Task SameInputGivesSameBytesWhateverTheInputOrder()
    {
        using var dir = new TempDirectory();
        await SafetensorsWriter.WriteAsync(dir.Combine("a.safetensors"), SampleTensors());
        await SafetensorsWriter.WriteAsync(dir.Combine("b.safetensors"), SampleTensors().Reverse().ToList());
        Assert.Equal(await File.ReadAllBytesAsync(dir.Combine("a.safetensors")), await File.ReadAllBytesAsync(dir.Combine("b.safetensors")));
    }

    [Fact]
    public async Task WrongSizedDataFailsAndLeavesNoFile()
    {
        using var dir = new TempDirectory();
        var path = dir.Combine("bad.safetensors");
        var liar = new TensorSource("liar", "F32", [4], (stream, ct) => stream.WriteAsync(new byte[12], ct).AsTask());
        await Assert.ThrowsAsync<InvalidDataException>(() => SafetensorsWriter.WriteAsync(path, [liar]));
        Assert.Empty(Directory.EnumerateFileSystemEntries(dir.Path));
    }

    [Fact]
    public async Task FailingProducerLeavesPreviousFileIntact()
    {
        using var dir = new TempDirectory();
        var path = dir.Combine("m.safetensors");
        await SafetensorsWriter.WriteAsync(path, SampleTensors());
        var before = await File.ReadAllBytesAsync(path);
        var broken = TensorSource.FromFloatChunks("broken", "F32", [10], () => (_, _) => throw new IOException("disk on fire"));
        await Assert.ThrowsAsync<IOException>(() => SafetensorsWriter.WriteAsync(path, [broken]));
        Assert.Equal(before, await File.ReadAllBytesAsync(path));
        Assert.False(File.Exists(path + ".tmp"));
    }

    [Fact]
    public async Task DuplicateOrReservedNamesAreRejected()
    {
        using var dir = new TempDirectory();
        var a = TensorSource.Constant("a", "F32", [1], 1);
        await Assert.ThrowsAsync<ArgumentException>(() => SafetensorsWriter.WriteAsync(dir.Combine("x"), [a, a]));
        await Assert.ThrowsAsync<ArgumentException>(() =>
            SafetensorsWriter.WriteAsync(dir.Combine("y"), [TensorSource.Constant("__metadata__", "F32", [1], 1)]));
    }

    [Fact]
    public async Task LargeTensorsSpanManyChunksCorrectly()
    {
        // 2.5 chunks through both the sequential and the parallel chunk paths.
        using var dir = new TempDirectory();
        var count = TensorSource.ChunkElements * 5 / 2;
        var values = Enumerable.Range(0, count).Select(i => (float)i).ToArray();
        var sequential = TensorSource.FromFloats("seq", "F32", [count], values);
        var parallel = TensorSource.FromIndependentChunks("par", "F32", [count], (first, dest) =>
        {
            for (var k = 0; k < dest.Length; k++)
                dest[k] = first + k;
        });
        var path = dir.Combine("big.safetensors");
        await SafetensorsWriter.WriteAsync(path, [sequential, parallel]);
        var file = SafetensorsFile.Read(path);
        Assert.Equal(values, file.ReadFloat32("seq"));
        Assert.Equal(values, file.ReadFloat32("par"));
    }

    [Fact]
    public void FromFloatsChecksTheValueCount() =>
        Assert.Throws<ArgumentException>(() => TensorSource.FromFloats("x", "F32", [2, 2], new float[3]));
}
