using System.Runtime.Intrinsics;
using Bento.Runtime.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace Bento.Runtime.Tests.Model;

/// <summary>
/// The managed decode kernels (one per storage format) against a float64 reference of the same stored values, and
/// against the LibTorch path (<see cref="WeightMatrix.Linear"/>, what prefill uses), on shapes that exercise every
/// edge: rows not a multiple of 4, token rows odd and even, columns not a multiple of 8, group sizes, and data that
/// starts off the vector boundary (as mapped safetensors data does).
/// </summary>
public sealed unsafe class WeightKernelTests
{
    public static TheoryData<string, int, int, int, int, int> Cases()
    {
        var data = new TheoryData<string, int, int, int, int, int>();
        foreach (var format in new[] { "float32", "bfloat16", "float16", "int8", "uint8" })
        {
            data.Add(format, 1, 37, 64, 0, 0);     // batch 1, a row tail
            data.Add(format, 1, 33, 528, 0, 3);    // batch 1, rows sharing an alignment: scalar head, vector body, tail
            data.Add(format, 1, 19, 200, 0, 5);    // batch 1, rows not a multiple of 32 bytes: unaligned loads
            data.Add(format, 2, 40, 96, 0, 3);     // two token rows, data starting 3 elements in
            data.Add(format, 5, 13, 70, 0, 1);     // columns not a multiple of 8
            data.Add(format, 16, 64, 256, 0, 5);   // the largest managed batch
            data.Add(format, 3, 301, 128, 0, 1);   // big enough to be shared by two threads
            data.Add(format, 1, 23, 4200, 0, 3);   // batch 1 with rows too long for x to stay in L1: 8 weight rows a pass, 7 left over
            data.Add(format, 2, 10, 2100, 0, 1);   // two token rows too long for L1 together
            if (format is "int8" or "uint8")
            {
                data.Add(format, 3, 21, 256, 64, 2);   // group scales
                data.Add(format, 1, 8, 96, 32, 0);
                data.Add(format, 2, 9, 60, 12, 7);     // groups smaller than a vector
                data.Add(format, 1, 11, 256, 64, 3);   // batch 1 with group scales and a scalar head in every group
                data.Add(format, 7, 23, 192, 64, 3);   // batched decode (4 weight rows a pass) with group scales, a row and a token left over
                data.Add(format, 1, 9, 4608, 128, 2);  // batch 1, long rows, group scales
            }
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void ManagedKernelMatchesReferenceAndLibTorch(string format, int n, int rows, int columns, int groupSize, int offset)
    {
        using var scope = NewDisposeScope();
        using var mode = inference_mode();
        var rng = new Random(rows * 131 + columns * 7 + n);
        var x = tensor(Enumerable.Range(0, n * columns).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray(), [n, columns]);
        var (matrix, reference) = MakeMatrix(format, rows, columns, groupSize, offset, rng);

        using var projector = new Projector(2);
        Assert.True(projector.UsesManagedKernel, "this machine has AVX2");
        var managed = projector.Project(x, matrix).data<float>().ToArray();
        var libTorch = matrix.Linear(x).data<float>().ToArray();
        var xs = x.data<float>().ToArray();
        for (var t = 0; t < n; t++)
            for (var r = 0; r < rows; r++)
            {
                double expected = 0, magnitude = 0;
                for (var c = 0; c < columns; c++)
                {
                    expected += reference[r * columns + c] * xs[t * columns + c];
                    magnitude += Math.Abs(reference[r * columns + c] * xs[t * columns + c]);
                }
                var tolerance = 1e-5 * magnitude + 1e-6;
                Assert.True(Math.Abs(managed[t * rows + r] - expected) <= tolerance,
                    $"{format} managed y[{t}, {r}] = {managed[t * rows + r]}, expected {expected}");
                Assert.True(Math.Abs(libTorch[t * rows + r] - expected) <= tolerance,
                    $"{format} LibTorch y[{t}, {r}] = {libTorch[t * rows + r]}, expected {expected}");
            }
    }

    [Fact]
    public void SeveralFormatsInOneCallAreSideBySide()
    {
        using var scope = NewDisposeScope();
        using var mode = inference_mode();
        var rng = new Random(3);
        var x = randn(2, 64);
        var (a, _) = MakeMatrix("bfloat16", 40, 64, 0, 1, rng);
        var (b, _) = MakeMatrix("uint8", 24, 64, 16, 0, rng);
        var (c, _) = MakeMatrix("float32", 8, 64, 0, 0, rng);
        using var projector = new Projector(2);
        var together = projector.Project(x, a, b, c);
        var apart = cat([projector.Project(x, a), projector.Project(x, b), projector.Project(x, c)], 1);
        Assert.Equal([2L, 72L], together.shape);
        Assert.True(together.allclose(apart, rtol: 0, atol: 0), "the same rows, the same arithmetic");
    }

    /// <summary>
    /// A helper that stalls after computing a chunk (as a preempted one does) has its chunks taken over by the caller:
    /// the call returns without waiting for it, the result is exact, and the late helper's copy is dropped.
    /// </summary>
    [Fact]
    public void ChunksOfAStalledHelperAreTakenOverAndTheResultStaysRight()
    {
        using var scope = NewDisposeScope();
        using var mode = inference_mode();
        var rng = new Random(5);
        var (matrix, _) = MakeMatrix("bfloat16", 16384, 512, 0, 1, rng);
        var x = randn(2, 512);
        var expected = matrix.Linear(x).data<float>().ToArray();
        using var projector = new Projector(2);
        projector.HelperPause = () => Thread.Sleep(30);
        // The helper joins a call only when the OS runs it in time; on a busy machine that may take a few calls.
        for (var i = 0; i < 200 && projector.TakeOvers == 0; i++)
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var y = projector.Project(x, matrix).data<float>().ToArray();
            Assert.True(clock.ElapsedMilliseconds < 25, $"call {i} waited {clock.ElapsedMilliseconds} ms for a stalled helper");
            for (var j = 0; j < y.Length; j++)
                Assert.True(Math.Abs(y[j] - expected[j]) <= 1e-4 * (1 + Math.Abs(expected[j])), $"call {i}: y[{j}] = {y[j]}, expected {expected[j]}");
        }
        Assert.True(projector.TakeOvers > 0, "the helper never held a chunk");
        projector.HelperPause = null;
        Thread.Sleep(100); // the late helper publishes nothing now; later calls are still exact
        Assert.True(projector.Project(x, matrix).allclose(tensor(expected, [2, 16384]), rtol: 1e-4, atol: 1e-4), "after the stall");
    }

    [Fact]
    public void Avx512Bf16IsReadFromCpuid()
    {
        var flags = File.ReadLines("/proc/cpuinfo").First(l => l.StartsWith("flags")).Split(' ');
        Assert.Equal(flags.Contains("avx512_bf16"), Projector.CpuHasAvx512Bf16);
        using var projector = new Projector(2);
        Assert.StartsWith("managed AVX2/FMA, 2 thread(s)", projector.Describe());
    }

    [Fact]
    public void Float16WideningHandlesEveryKindOfValue()
    {
        ushort[] bits = [0x0000, 0x8000, 0x0001, 0x03FF, 0x8001, 0x0400, 0x3C00, 0xBC00, 0x7BFF, 0xFBFF, 0x7C00, 0xFC00, 0x7E00, 0x3555, 0x1234, 0x9234];
        fixed (ushort* p = bits)
        {
            for (var i = 0; i < bits.Length; i += 8)
            {
                var v = Float16Elements.Load8((byte*)(p + i));
                for (var j = 0; j < 8; j++)
                {
                    var expected = (float)BitConverter.UInt16BitsToHalf(bits[i + j]);
                    var actual = v.GetElement(j);
                    Assert.True(BitConverter.SingleToInt32Bits(expected) == BitConverter.SingleToInt32Bits(actual) || (float.IsNaN(expected) && float.IsNaN(actual)),
                        $"0x{bits[i + j]:X4}: {actual} instead of {expected}");
                    Assert.Equal(BitConverter.SingleToInt32Bits(expected), BitConverter.SingleToInt32Bits(Float16Elements.Load1((byte*)(p + i + j))));
                }
            }
        }
    }

    [Fact]
    public void EmbeddingRowsOfEveryFormatMatchTheStoredValues()
    {
        using var scope = NewDisposeScope();
        var rng = new Random(9);
        foreach (var format in new[] { "float32", "bfloat16", "int8", "uint8" })
        {
            var (matrix, reference) = MakeMatrix(format, 10, 24, format == "uint8" ? 8 : 0, 0, rng);
            var rows = matrix.Gather(tensor(new long[] { 7, 2, 7 }, [1, 3]), ScalarType.Float32);
            Assert.Equal([1L, 3L, 24L], rows.shape);
            var values = rows.data<float>().ToArray();
            long[] ids = [7, 2, 7];
            for (var i = 0; i < 3; i++)
                for (var c = 0; c < 24; c++)
                    Assert.Equal(reference[ids[i] * 24 + c], values[i * 24 + c], 5);
        }
    }

    /// <summary>
    /// A [rows, columns] matrix of <paramref name="format"/> whose data starts <paramref name="offset"/> elements into
    /// its storage, and the float64 values it stands for (what the kernel must multiply).
    /// </summary>
    private static (WeightMatrix Matrix, double[] Values) MakeMatrix(string format, int rows, int columns, int groupSize, int offset, Random rng)
    {
        var count = rows * columns;
        var values = new double[count];
        Tensor data;
        Tensor? scales = null;
        switch (format)
        {
            case "float32" or "bfloat16" or "float16":
            {
                var dtype = format switch { "float32" => ScalarType.Float32, "bfloat16" => ScalarType.BFloat16, _ => ScalarType.Float16 };
                var raw = tensor(Enumerable.Range(0, count + offset).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray()).to(dtype);
                data = raw.narrow(0, offset, count).view(rows, columns);
                var stored = data.to(ScalarType.Float32).data<float>().ToArray();
                for (var i = 0; i < count; i++) values[i] = stored[i];
                break;
            }
            default:
            {
                var signed = format == "int8";
                var q = Enumerable.Range(0, count + offset).Select(_ => rng.Next(-128, 128)).ToArray();
                var raw = signed ? tensor(q.Select(v => (sbyte)v).ToArray()) : tensor(q.Select(v => (byte)(v + 128)).ToArray());
                data = raw.narrow(0, offset, count).view(rows, columns);
                var groups = groupSize == 0 ? 1 : columns / groupSize;
                var s = Enumerable.Range(0, rows * groups).Select(_ => (float)(0.001 + rng.NextDouble() * 0.02)).ToArray();
                scales = tensor(s, [rows, groups]);
                var size = columns / groups;
                for (var r = 0; r < rows; r++)
                    for (var c = 0; c < columns; c++)
                        values[r * columns + c] = q[offset + r * columns + c] * (double)s[r * groups + c / size];
                break;
            }
        }
        return (WeightMatrix.From(data, scales), values);
    }
}
