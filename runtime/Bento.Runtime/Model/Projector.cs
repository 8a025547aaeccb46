using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Bento.Runtime.Model;

/// <summary>
/// The matrix multiplies of an inference step: y[N, sum(out)] = x[N, in] times each W[out, in] transposed, the
/// outputs side by side (q|k|v, gate|up). Each W is a <see cref="WeightMatrix"/>: float32, bfloat16, float16 or int8
/// with scales. Large N (prefill) goes to LibTorch's GEMM (<see cref="WeightMatrix.Linear"/>). Small N (decode) is
/// memory-bound - every weight byte is read once per step, whatever N is - and LibTorch's batch-1 matrix-vector
/// path reads the [out, in] weights at only ~13 GB/s here (it does not use both cores) and has no fast path for
/// bfloat16, float16 or int8 weights with float32 activations; so this class runs its own kernel: row dot products
/// straight on the stored [out, in] weights (memory-mapped or copied, never transposed, never widened in memory),
/// each element widened to float32 as it is read, the rows of all matrices of one call shared between the calling
/// thread and threads - 1 helper threads. Activations are float32.
/// </summary>
public sealed unsafe class Projector : IDisposable
{
    /// <summary>Row counts up to which the managed kernel is used (beyond, GEMM is compute-bound: LibTorch wins).</summary>
    public const int MaxManagedRows = 16;

    private readonly RowSplitter? _splitter;

    /// <param name="threads">Threads for the managed kernel, the calling one included (helper threads spin briefly
    /// between calls and then sleep). 0 disables the managed kernel (LibTorch everywhere).</param>
    public Projector(int threads)
    {
        Threads = threads;
        if (threads > 0 && Avx2.IsSupported)
            _splitter = new RowSplitter(threads);
    }

    public int Threads { get; }

    /// <summary>Whether decode-sized batches use the managed kernel (needs AVX2; otherwise LibTorch runs everything).</summary>
    public bool UsesManagedKernel => _splitter is not null;

    /// <summary>
    /// Whether the CPU has AVX512_BF16 (vdpbf16ps: bfloat16 pair dot products into float32), read from CPUID leaf 7
    /// subleaf 1. .NET 10 has no intrinsic for it, and it would round the activations to bfloat16, so the kernels do
    /// not use it; it is reported so that a future native path can be judged against the machines it would run on.
    /// </summary>
    public static bool CpuHasAvx512Bf16 => X86Base.IsSupported && (X86Base.CpuId(7, 1).Eax & (1 << 5)) != 0;

    /// <summary>Chunks the calling thread computed itself because a helper held them too long (preempted).</summary>
    public long TakeOvers => _splitter?.TakeOvers ?? 0;

    /// <summary>Tests: runs on a helper after it computed a chunk and before it publishes it (to play a preempted helper).</summary>
    internal Action? HelperPause { set => _splitter!.HelperPause = value; }

    /// <summary>For logs and /health: what multiplies decode-sized batches here.</summary>
    public string Describe() => UsesManagedKernel
        ? $"managed AVX2/FMA, {Threads} thread(s), weights widened to float32 as read" +
          (CpuHasAvx512Bf16 ? "; the CPU also has AVX512_BF16, which .NET 10 cannot issue" : "")
        : "LibTorch (no AVX2, or the managed kernel is off)";

    public Tensor Project(Tensor x, params WeightMatrix[] weights)
    {
        if (_splitter is not null && x.shape[0] <= MaxManagedRows && x.dtype == ScalarType.Float32 && x.dim() == 2
            && x.device_type == TorchSharp.DeviceType.CPU && weights.All(w => w.SuitsManagedKernel))
            return Managed(x, weights);
        if (weights.Length == 1)
            return weights[0].Linear(x);
        return cat(weights.Select(w => w.Linear(x)).ToArray(), 1);
    }

    /// <summary>Dense weights given as tensors (float32, bfloat16 or float16 [out, in]).</summary>
    public Tensor Project(Tensor x, params Tensor[] weights) => Project(x, weights.Select(WeightMatrix.Dense).ToArray());

    private Tensor Managed(Tensor x, WeightMatrix[] weights)
    {
        var xc = x.is_contiguous() ? x : x.contiguous();
        int n = (int)xc.shape[0], inDim = (int)xc.shape[1];
        var total = 0;
        var matrices = new MatrixData[weights.Length];
        for (var i = 0; i < weights.Length; i++)
        {
            var w = weights[i];
            if (w.Columns != inDim)
                throw new ArgumentException($"weight {i} is [{w.Rows}, {w.Columns}] but x has {inDim} columns");
            matrices[i] = new MatrixData((byte*)TensorData.Pointer(w.Data), w.Format, w.Scales is null ? null : TensorData.Float(w.Scales),
                w.GroupSize, checked((int)w.Rows));
            total += matrices[i].Rows;
        }
        var y = empty([n, total], ScalarType.Float32);
        _splitter!.Run(new Job(TensorData.Float(xc), n, inDim, matrices, total, TensorData.Float(y)));
        if (!ReferenceEquals(xc, x)) xc.Dispose();
        return y;
    }

    public void Dispose() => _splitter?.Dispose();

    /// <summary>One matrix of a job: its data, format, scales (null when dense) and row count.</summary>
    internal readonly struct MatrixData(byte* data, WeightFormat format, float* scales, int groupSize, int rows)
    {
        public readonly byte* Data = data;
        public readonly WeightFormat Format = format;
        public readonly float* Scales = scales;
        public readonly int GroupSize = groupSize;
        public readonly int Rows = rows;
    }

    internal readonly struct Job(float* x, int n, int inDim, MatrixData[] matrices, int totalRows, float* y)
    {
        public readonly float* X = x;
        public readonly int N = n, InDim = inDim, TotalRows = totalRows;
        public readonly MatrixData[] Matrices = matrices;
        public readonly float* Y = y;
    }

    /// <summary>Computes rows [first, end) of a job (global row numbering across its matrices) into its output.</summary>
    internal static void Compute(in Job job, int first, int end) => Compute(job, job.X, first, end, job.Y + first, job.TotalRows);

    /// <summary>Rows [first, end) of a job from <paramref name="x"/>; row <paramref name="first"/>'s outputs go to
    /// <paramref name="y"/>, token rows <paramref name="yStride"/> floats apart.</summary>
    internal static void Compute(in Job job, float* x, int first, int end, float* y, int yStride)
    {
        var offset = 0;
        for (var m = 0; m < job.Matrices.Length && first < end; m++)
        {
            ref readonly var matrix = ref job.Matrices[m];
            if (first < offset + matrix.Rows)
            {
                var local = first - offset;
                var count = Math.Min(end, offset + matrix.Rows) - first;
                RowDots(matrix, x, job.N, job.InDim, local, count, y, yStride);
                y += count;
                first += count;
            }
            offset += matrix.Rows;
        }
    }

    /// <summary>Rows [first, first + count) of one matrix, by its format.</summary>
    internal static void RowDots(in MatrixData m, float* x, int n, int inDim, int first, int count, float* y, int yStride)
    {
        var scales = m.Scales is null ? null : m.Scales + (long)first * (inDim / m.GroupSize);
        switch (m.Format)
        {
            case WeightFormat.Float32: RowDots<Float32Elements>(x, n, inDim, m.Data + (long)first * inDim * 4, count, y, yStride, null, inDim); break;
            case WeightFormat.BFloat16: RowDots<BFloat16Elements>(x, n, inDim, m.Data + (long)first * inDim * 2, count, y, yStride, null, inDim); break;
            case WeightFormat.Float16: RowDots<Float16Elements>(x, n, inDim, m.Data + (long)first * inDim * 2, count, y, yStride, null, inDim); break;
            case WeightFormat.Int8: RowDots<Int8Elements>(x, n, inDim, m.Data + (long)first * inDim, count, y, yStride, scales, m.GroupSize); break;
            case WeightFormat.UInt8Offset128: RowDots<UInt8Offset128Elements>(x, n, inDim, m.Data + (long)first * inDim, count, y, yStride, scales, m.GroupSize); break;
            default: throw new NotSupportedException($"weight format {m.Format}");
        }
    }

    /// <summary>
    /// The most bytes of token rows (x) the streaming loop takes: half of a 32 KiB L1 data cache, so that x stays there
    /// while the weights stream past. Beyond it (one token row over 4096 columns, as down_proj's 8192 are) every x
    /// load missed L1 in the streaming loop, a third of all misses, and such matrices decoded at half the bytes per
    /// second of the others; eight weight rows a pass (<see cref="RowDotsEightRows{T}"/>) load x an eighth as often.
    /// </summary>
    private const int StreamingXBytes = 16 << 10;

    /// <summary>
    /// y[t, r] = sum over groups g of scale[r, g] * dot(x[t, group g], w[r, group g]) for r &lt; rowCount, t &lt; n;
    /// rows of w are inDim elements of <typeparamref name="T"/> apart, y rows yStride floats apart. Dense weights
    /// have no scales (null) and one group (groupSize = inDim); per-channel scales are one group too.
    /// </summary>
    /// <remarks>
    /// One or two token rows (decode of one or two sequences) that fit in L1 (<see cref="StreamingXBytes"/>): one
    /// weight row at a time, 32 columns per pass in 4 independent accumulators per token row, two token rows per pass
    /// (each weight element loaded and widened once for both). One longer token row: <see cref="RowDotsEightRows{T}"/>;
    /// more token rows, or two long ones: <see cref="RowDotsInterleaved{T}"/>. Reading the rows one after the other makes the
    /// whole matrix one sequential stream, which the hardware prefetchers follow; four rows interleaved (the first
    /// version) were four short streams, and with int8 rows of only 2 KiB that halved the bytes per second.
    /// safetensors data is only 8-byte aligned (it starts at 8 + header length), so a mapped weight row typically
    /// starts mid-way into a load-sized block and every vector load would straddle two blocks (and often two cache
    /// lines: ~20% slower decode measured for float32). The first elements of each group up to the next boundary of 8
    /// elements are therefore done one by one (all rows and groups share that boundary when a group is a whole number
    /// of blocks), the rest with aligned weight loads; x, small and in L1, takes the unaligned ones.
    /// </remarks>
    internal static void RowDots<T>(float* x, int n, int inDim, byte* w, int rowCount, float* y, int yStride, float* scales, int groupSize)
        where T : struct, IWeightElements
    {
        if (n <= 2 && (long)n * inDim * sizeof(float) <= StreamingXBytes) RowDotsStreaming<T>(x, n, inDim, w, rowCount, y, yStride, scales, groupSize);
        else if (n == 1) RowDotsEightRows<T>(x, inDim, w, rowCount, y, scales, groupSize);
        else RowDotsInterleaved<T>(x, n, inDim, w, rowCount, y, yStride, scales, groupSize);
    }

    /// <summary>One and two token rows: each weight row read once, in order (see <see cref="RowDots{T}"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void RowDotsStreaming<T>(float* x, int n, int inDim, byte* w, int rowCount, float* y, int yStride, float* scales, int groupSize)
        where T : struct, IWeightElements
    {
        var size = T.Size;
        var rowBytes = (long)inDim * size;
        var groups = inDim / groupSize;
        var (head, vecEnd) = VectorColumns(w, size, groupSize);
        for (var r = 0; r < rowCount; r++)
        {
            var wr = w + r * rowBytes;
            var s = scales is null ? null : scales + (long)r * groups;
            var t = 0;
            for (; t + 2 <= n; t += 2)
            {
                float* xa = x + (long)t * inDim, xb = xa + inDim;
                float ra = 0, rb = 0;
                for (var g = 0; g < groups; g++)
                {
                    int start = g * groupSize, end = start + vecEnd, i = start + head;
                    Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
                    Vector256<float> b0 = default, b1 = default, b2 = default, b3 = default;
                    for (; i + 32 <= end; i += 32)
                    {
                        var p = wr + (long)i * size;
                        var v0 = T.Load8(p);
                        var v1 = T.Load8(p + 8 * size);
                        var v2 = T.Load8(p + 16 * size);
                        var v3 = T.Load8(p + 24 * size);
                        a0 = Fma256(v0, Vector256.Load(xa + i), a0); b0 = Fma256(v0, Vector256.Load(xb + i), b0);
                        a1 = Fma256(v1, Vector256.Load(xa + i + 8), a1); b1 = Fma256(v1, Vector256.Load(xb + i + 8), b1);
                        a2 = Fma256(v2, Vector256.Load(xa + i + 16), a2); b2 = Fma256(v2, Vector256.Load(xb + i + 16), b2);
                        a3 = Fma256(v3, Vector256.Load(xa + i + 24), a3); b3 = Fma256(v3, Vector256.Load(xb + i + 24), b3);
                    }
                    for (; i < end; i += 8)
                    {
                        var v = T.Load8(wr + (long)i * size);
                        a0 = Fma256(v, Vector256.Load(xa + i), a0);
                        b0 = Fma256(v, Vector256.Load(xb + i), b0);
                    }
                    float sa = Vector256.Sum((a0 + a1) + (a2 + a3)), sb = Vector256.Sum((b0 + b1) + (b2 + b3));
                    for (i = start; i < start + groupSize; i++)
                    {
                        if (i == start + head) { i = end; if (i >= start + groupSize) break; }
                        var e = T.Load1(wr + (long)i * size);
                        sa += e * xa[i];
                        sb += e * xb[i];
                    }
                    if (s is null) { ra += sa; rb += sb; }
                    else { ra += sa * s[g]; rb += sb * s[g]; }
                }
                y[(long)t * yStride + r] = ra;
                y[(long)(t + 1) * yStride + r] = rb;
            }
            if (t < n)
            {
                var xt = x + (long)t * inDim;
                var total = 0f;
                for (var g = 0; g < groups; g++)
                {
                    int start = g * groupSize, end = start + vecEnd, i = start + head;
                    Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
                    for (; i + 32 <= end; i += 32)
                    {
                        var p = wr + (long)i * size;
                        a0 = Fma256(T.Load8(p), Vector256.Load(xt + i), a0);
                        a1 = Fma256(T.Load8(p + 8 * size), Vector256.Load(xt + i + 8), a1);
                        a2 = Fma256(T.Load8(p + 16 * size), Vector256.Load(xt + i + 16), a2);
                        a3 = Fma256(T.Load8(p + 24 * size), Vector256.Load(xt + i + 24), a3);
                    }
                    for (; i < end; i += 8)
                        a0 = Fma256(T.Load8(wr + (long)i * size), Vector256.Load(xt + i), a0);
                    var sum = Vector256.Sum((a0 + a1) + (a2 + a3));
                    for (i = start; i < start + groupSize; i++)
                    {
                        if (i == start + head) { i = end; if (i >= start + groupSize) break; }
                        sum += T.Load1(wr + (long)i * size) * xt[i];
                    }
                    total += s is null ? sum : sum * s[g];
                }
                y[(long)t * yStride + r] = total;
            }
        }
    }

    /// <summary>
    /// Which columns of each group the 8-wide loops take: from <c>head</c> (the first column whose weight load is
    /// aligned to 8 elements, when every row and group shares that alignment; else 0) to <c>vecEnd</c> (relative to
    /// the group's first column); the rest are done one by one.
    /// </summary>
    private static (int Head, int VecEnd) VectorColumns(byte* w, int size, int groupSize)
    {
        var block = 8 * size;
        var head = (long)groupSize * size % block == 0 && (nint)w % size == 0 ? (int)((block - (nint)w % block) % block / size) : 0;
        if (head >= groupSize) head = 0;
        return (head, head + ((groupSize - head) & ~7));
    }

    /// <summary>
    /// Three or more token rows (batched decode), or two token rows too long for L1: four weight rows by two token
    /// rows per pass (by one for an odd token row left over). With many token rows
    /// the pass re-reads each weight row from L1 once per pair of token rows, and loading x becomes the cost: four
    /// weight rows share each pair of x loads (2 x loads and 4 weight loads for 8 FMAs, against 2 for 2 in the
    /// streaming loop), which keeps 8 streams at 4-5x the tokens/s of one.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void RowDotsInterleaved<T>(float* x, int n, int inDim, byte* w, int rowCount, float* y, int yStride, float* scales, int groupSize)
        where T : struct, IWeightElements
    {
        var size = T.Size;
        var rowBytes = (long)inDim * size;
        var groups = inDim / groupSize;
        var (head, vecEnd) = VectorColumns(w, size, groupSize);
        var r = 0;
        for (; r + 4 <= rowCount; r += 4)
        {
            byte* w0 = w + r * rowBytes, w1 = w0 + rowBytes, w2 = w1 + rowBytes, w3 = w2 + rowBytes;
            var s = scales is null ? null : scales + (long)r * groups;
            var t = 0;
            for (; t + 2 <= n; t += 2)
            {
                float* xa = x + (long)t * inDim, xb = xa + inDim;
                float ra0 = 0, ra1 = 0, ra2 = 0, ra3 = 0, rb0 = 0, rb1 = 0, rb2 = 0, rb3 = 0;
                for (var g = 0; g < groups; g++)
                {
                    int start = g * groupSize, end = start + vecEnd;
                    Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
                    Vector256<float> b0 = default, b1 = default, b2 = default, b3 = default;
                    for (var i = start + head; i < end; i += 8)
                    {
                        var xva = Vector256.Load(xa + i);
                        var xvb = Vector256.Load(xb + i);
                        var o = (long)i * size;
                        var v0 = T.Load8(w0 + o);
                        var v1 = T.Load8(w1 + o);
                        var v2 = T.Load8(w2 + o);
                        var v3 = T.Load8(w3 + o);
                        a0 = Fma256(v0, xva, a0); b0 = Fma256(v0, xvb, b0);
                        a1 = Fma256(v1, xva, a1); b1 = Fma256(v1, xvb, b1);
                        a2 = Fma256(v2, xva, a2); b2 = Fma256(v2, xvb, b2);
                        a3 = Fma256(v3, xva, a3); b3 = Fma256(v3, xvb, b3);
                    }
                    float sa0 = Vector256.Sum(a0), sa1 = Vector256.Sum(a1), sa2 = Vector256.Sum(a2), sa3 = Vector256.Sum(a3);
                    float sb0 = Vector256.Sum(b0), sb1 = Vector256.Sum(b1), sb2 = Vector256.Sum(b2), sb3 = Vector256.Sum(b3);
                    for (var i = start; i < start + groupSize; i++)
                    {
                        if (i == start + head) { i = end; if (i >= start + groupSize) break; }
                        var o = (long)i * size;
                        float e0 = T.Load1(w0 + o), e1 = T.Load1(w1 + o), e2 = T.Load1(w2 + o), e3 = T.Load1(w3 + o);
                        sa0 += e0 * xa[i]; sb0 += e0 * xb[i];
                        sa1 += e1 * xa[i]; sb1 += e1 * xb[i];
                        sa2 += e2 * xa[i]; sb2 += e2 * xb[i];
                        sa3 += e3 * xa[i]; sb3 += e3 * xb[i];
                    }
                    if (s is null)
                    {
                        ra0 += sa0; ra1 += sa1; ra2 += sa2; ra3 += sa3;
                        rb0 += sb0; rb1 += sb1; rb2 += sb2; rb3 += sb3;
                    }
                    else
                    {
                        float c0 = s[g], c1 = s[groups + g], c2 = s[2 * groups + g], c3 = s[3 * groups + g];
                        ra0 += sa0 * c0; ra1 += sa1 * c1; ra2 += sa2 * c2; ra3 += sa3 * c3;
                        rb0 += sb0 * c0; rb1 += sb1 * c1; rb2 += sb2 * c2; rb3 += sb3 * c3;
                    }
                }
                var ya = y + (long)t * yStride + r;
                var yb = ya + yStride;
                ya[0] = ra0; ya[1] = ra1; ya[2] = ra2; ya[3] = ra3;
                yb[0] = rb0; yb[1] = rb1; yb[2] = rb2; yb[3] = rb3;
            }
            if (t < n)
                FourRowsOneToken<T>(x + (long)t * inDim, inDim, w0, rowBytes, y + (long)t * yStride + r, s, groups, groupSize, head, vecEnd);
        }
        if (r < rowCount)
            RowDotsStreaming<T>(x, n, inDim, w + r * rowBytes, rowCount - r, y + r, yStride, scales is null ? null : scales + (long)r * groups, groupSize);
    }

    /// <summary>
    /// One token row too long to stay in L1 beside the weight stream (see <see cref="StreamingXBytes"/>): eight
    /// weight rows a pass, so each x load serves eight rows (x misses L1 an eighth as often as in the streaming loop;
    /// eight rows measured 1-3 ms a token faster than four on the 1B benchmark, whose down_proj has 8192 columns).
    /// Rows left over go through the streaming loop.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void RowDotsEightRows<T>(float* x, int inDim, byte* w, int rowCount, float* y, float* scales, int groupSize)
        where T : struct, IWeightElements
    {
        var size = T.Size;
        var rowBytes = (long)inDim * size;
        var groups = inDim / groupSize;
        var (head, vecEnd) = VectorColumns(w, size, groupSize);
        var r = 0;
        for (; r + 8 <= rowCount; r += 8)
        {
            byte* w0 = w + r * rowBytes;
            var s = scales is null ? null : scales + (long)r * groups;
            float r0 = 0, r1 = 0, r2 = 0, r3 = 0, r4 = 0, r5 = 0, r6 = 0, r7 = 0;
            for (var g = 0; g < groups; g++)
            {
                int start = g * groupSize, end = start + vecEnd, i = start + head;
                Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
                Vector256<float> a4 = default, a5 = default, a6 = default, a7 = default;
                for (; i < end; i += 8)
                {
                    var xv = Vector256.Load(x + i);
                    var p = w0 + (long)i * size;
                    a0 = Fma256(T.Load8(p), xv, a0);
                    a1 = Fma256(T.Load8(p + rowBytes), xv, a1);
                    a2 = Fma256(T.Load8(p + 2 * rowBytes), xv, a2);
                    a3 = Fma256(T.Load8(p + 3 * rowBytes), xv, a3);
                    a4 = Fma256(T.Load8(p + 4 * rowBytes), xv, a4);
                    a5 = Fma256(T.Load8(p + 5 * rowBytes), xv, a5);
                    a6 = Fma256(T.Load8(p + 6 * rowBytes), xv, a6);
                    a7 = Fma256(T.Load8(p + 7 * rowBytes), xv, a7);
                }
                float s0 = Vector256.Sum(a0), s1 = Vector256.Sum(a1), s2 = Vector256.Sum(a2), s3 = Vector256.Sum(a3);
                float s4 = Vector256.Sum(a4), s5 = Vector256.Sum(a5), s6 = Vector256.Sum(a6), s7 = Vector256.Sum(a7);
                for (i = start; i < start + groupSize; i++)
                {
                    if (i == start + head) { i = end; if (i >= start + groupSize) break; }
                    var p = w0 + (long)i * size;
                    var xi = x[i];
                    s0 += T.Load1(p) * xi; s1 += T.Load1(p + rowBytes) * xi; s2 += T.Load1(p + 2 * rowBytes) * xi; s3 += T.Load1(p + 3 * rowBytes) * xi;
                    s4 += T.Load1(p + 4 * rowBytes) * xi; s5 += T.Load1(p + 5 * rowBytes) * xi; s6 += T.Load1(p + 6 * rowBytes) * xi; s7 += T.Load1(p + 7 * rowBytes) * xi;
                }
                if (s is null) { r0 += s0; r1 += s1; r2 += s2; r3 += s3; r4 += s4; r5 += s5; r6 += s6; r7 += s7; }
                else
                {
                    r0 += s0 * s[g]; r1 += s1 * s[groups + g]; r2 += s2 * s[2 * groups + g]; r3 += s3 * s[3 * groups + g];
                    r4 += s4 * s[4 * groups + g]; r5 += s5 * s[5 * groups + g]; r6 += s6 * s[6 * groups + g]; r7 += s7 * s[7 * groups + g];
                }
            }
            y[r] = r0; y[r + 1] = r1; y[r + 2] = r2; y[r + 3] = r3; y[r + 4] = r4; y[r + 5] = r5; y[r + 6] = r6; y[r + 7] = r7;
        }
        if (r < rowCount)
            RowDotsStreaming<T>(x, 1, inDim, w + r * rowBytes, rowCount - r, y + r, 1, scales is null ? null : scales + (long)r * groups, groupSize);
    }

    /// <summary>Four weight rows (<paramref name="rowBytes"/> apart from <paramref name="w0"/>) against one token row:
    /// y[0..4). Each x load serves four weight rows, two accumulators per row keep eight FMA chains in flight.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void FourRowsOneToken<T>(float* x, int inDim, byte* w0, long rowBytes, float* y, float* s, int groups, int groupSize, int head, int vecEnd)
        where T : struct, IWeightElements
    {
        var size = T.Size;
        byte* w1 = w0 + rowBytes, w2 = w1 + rowBytes, w3 = w2 + rowBytes;
        float r0 = 0, r1 = 0, r2 = 0, r3 = 0;
        for (var g = 0; g < groups; g++)
        {
            int start = g * groupSize, end = start + vecEnd, i = start + head;
            Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
            Vector256<float> c0 = default, c1 = default, c2 = default, c3 = default;
            for (; i + 16 <= end; i += 16)
            {
                var xv = Vector256.Load(x + i);
                var xw = Vector256.Load(x + i + 8);
                var o = (long)i * size;
                var o8 = o + 8 * size;
                a0 = Fma256(T.Load8(w0 + o), xv, a0); c0 = Fma256(T.Load8(w0 + o8), xw, c0);
                a1 = Fma256(T.Load8(w1 + o), xv, a1); c1 = Fma256(T.Load8(w1 + o8), xw, c1);
                a2 = Fma256(T.Load8(w2 + o), xv, a2); c2 = Fma256(T.Load8(w2 + o8), xw, c2);
                a3 = Fma256(T.Load8(w3 + o), xv, a3); c3 = Fma256(T.Load8(w3 + o8), xw, c3);
            }
            for (; i < end; i += 8)
            {
                var xv = Vector256.Load(x + i);
                var o = (long)i * size;
                a0 = Fma256(T.Load8(w0 + o), xv, a0);
                a1 = Fma256(T.Load8(w1 + o), xv, a1);
                a2 = Fma256(T.Load8(w2 + o), xv, a2);
                a3 = Fma256(T.Load8(w3 + o), xv, a3);
            }
            float s0 = Vector256.Sum(a0 + c0), s1 = Vector256.Sum(a1 + c1), s2 = Vector256.Sum(a2 + c2), s3 = Vector256.Sum(a3 + c3);
            for (i = start; i < start + groupSize; i++)
            {
                if (i == start + head) { i = end; if (i >= start + groupSize) break; }
                var o = (long)i * size;
                var xi = x[i];
                s0 += T.Load1(w0 + o) * xi; s1 += T.Load1(w1 + o) * xi; s2 += T.Load1(w2 + o) * xi; s3 += T.Load1(w3 + o) * xi;
            }
            if (s is null) { r0 += s0; r1 += s1; r2 += s2; r3 += s3; }
            else { r0 += s0 * s[g]; r1 += s1 * s[groups + g]; r2 += s2 * s[2 * groups + g]; r3 += s3 * s[3 * groups + g]; }
        }
        y[0] = r0; y[1] = r1; y[2] = r2; y[3] = r3;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Fma256(Vector256<float> a, Vector256<float> b, Vector256<float> c) =>
        Fma.IsSupported ? Fma.MultiplyAdd(a, b, c) : a * b + c;

    /// <summary>
    /// Shares a job's rows between the calling thread and helper threads by dynamic claiming: rows come in chunks
    /// that each thread takes with an interlocked counter, so a helper that the OS has not scheduled yet (the machine
    /// may be busy) costs nothing - the caller simply does more chunks - and uneven speeds balance out. The helpers
    /// spin for a short while after each job (decode steps call every few microseconds), then sleep on a semaphore,
    /// so they do not hold a core while LibTorch runs a long prefill GEMM on its own threads.
    /// </summary>
    /// <remarks>
    /// A helper preempted while it holds a chunk would make the caller wait for the helper's next time slice
    /// (milliseconds on an oversubscribed machine, where two threads then ran at half the speed of one). So the caller
    /// never waits long: a chunk a helper has not finished shortly after everything else is done is taken over
    /// (compare-and-swap on its state) and computed again by the caller. Helpers therefore never write the output
    /// directly: they compute into their own scratch and publish it only if the chunk is still theirs (the caller
    /// waits for a publish in progress, a copy of a few hundred floats). A helper that comes back late finds its
    /// chunk taken and drops its result. Because it may still be reading when the call has returned, it reads x from a
    /// copy this class owns (never freed before <see cref="Dispose"/>), and the weights must live as long as the
    /// projector (the model's weights do).
    /// </remarks>
    private sealed class RowSplitter : IDisposable
    {
        private const int SpinIterations = 100_000; // on the order of 100 us
        /// <summary>
        /// Weight bytes per chunk. One or two token rows (memory-bound): 1 MiB, because every chunk boundary restarts
        /// the hardware prefetchers on a new stretch of memory. On the 1B benchmark 32 KiB chunks cost 25-40 ms a
        /// token, 128 KiB ~3 ms, 512 KiB ~0.5-2 ms more than 1 MiB (same-process A/B). Three or more token rows do
        /// proportionally more arithmetic per byte: 128 KiB keeps their chunks as short in time.
        /// </summary>
        private static long ChunkBytes(int tokenRows) => tokenRows <= 2 ? 1 << 20 : 128 << 10;

        private const int MaxChunkRows = 1024;

        /// <summary>How long the caller lets a helper finish a chunk before taking it over: a few chunks' worth
        /// (50 us for 128 KiB, 200 us for 1 MiB: several times a chunk's time at the bandwidth one thread gets).</summary>
        private static long TakeOverTicks(int tokenRows) => Stopwatch.Frequency / 20_000 * Math.Max(1, ChunkBytes(tokenRows) / (256 << 10));

        private const int Free = 0, Helping = 1, Done = 2, TakenOver = 3, Publishing = 4;

        private sealed class Work
        {
            public readonly Job Job;
            public readonly float* X;
            public readonly int ChunkRows;
            public readonly int Chunks;
            public readonly int[] State;
            public int Next;

            public Work(Job job, float* x, int chunkRows)
            {
                Job = job;
                X = x;
                ChunkRows = chunkRows;
                Chunks = (job.TotalRows + chunkRows - 1) / chunkRows;
                State = new int[Chunks];
            }

            public int First(int chunk) => chunk * ChunkRows;
            public int End(int chunk) => Math.Min(Job.TotalRows, (chunk + 1) * ChunkRows);
        }

        private readonly Thread[] _helpers;
        private readonly SemaphoreSlim[] _wake;
        private readonly int[] _sleeping;
        private readonly float*[] _scratch;
        private readonly List<nint> _retiredInputs = [];
        private float* _input;
        private long _inputCapacity;
        private Work? _current;
        private volatile bool _disposed;

        public RowSplitter(int threads)
        {
            var helpers = Math.Max(0, threads - 1);
            _helpers = new Thread[helpers];
            _wake = new SemaphoreSlim[helpers];
            _sleeping = new int[helpers];
            _scratch = new float*[helpers];
            for (var i = 0; i < helpers; i++)
            {
                _scratch[i] = (float*)NativeMemory.Alloc((nuint)(MaxChunkRows * MaxManagedRows), sizeof(float));
                _wake[i] = new SemaphoreSlim(0);
                var index = i;
                _helpers[i] = new Thread(() => HelperLoop(index)) { IsBackground = true, Name = $"bento-gemv-{i + 1}" };
                _helpers[i].Start();
            }
        }

        /// <summary>How many chunks the caller took over from a preempted helper (diagnostics and tests).</summary>
        public long TakeOvers => Interlocked.Read(ref _takenOver);

        private long _takenOver;

        public Action? HelperPause;

        public void Run(Job job)
        {
            if (_helpers.Length == 0 || (long)job.TotalRows * job.InDim < 32_768)
            {
                Compute(job, 0, job.TotalRows);
                return;
            }
            var rowBytes = job.Matrices.Max(m => (long)job.InDim * ElementSize(m.Format));
            var chunkRows = (int)Math.Clamp(ChunkBytes(job.N) / rowBytes, 4, MaxChunkRows);
            var takeOverTicks = TakeOverTicks(job.N);
            var work = new Work(job, CopyInput(job), chunkRows);
            Volatile.Write(ref _current, work);
            Interlocked.MemoryBarrier();
            for (var i = 0; i < _helpers.Length; i++)
                if (Volatile.Read(ref _sleeping[i]) == 1)
                    _wake[i].Release();

            // The caller's own chunks go straight to the output.
            int chunk;
            while ((chunk = Interlocked.Increment(ref work.Next) - 1) < work.Chunks)
            {
                Compute(job, work.First(chunk), work.End(chunk));
                Volatile.Write(ref work.State[chunk], Done);
            }
            // The helpers' chunks: done, or soon done, or taken over.
            for (var c = 0; c < work.Chunks; c++)
            {
                if (Volatile.Read(ref work.State[c]) == Done) continue;
                var since = Stopwatch.GetTimestamp();
                var spin = new SpinWait();
                while (true)
                {
                    var state = Volatile.Read(ref work.State[c]);
                    if (state == Done) break;
                    if (state is Free or Helping && Stopwatch.GetTimestamp() - since > takeOverTicks
                        && Interlocked.CompareExchange(ref work.State[c], TakenOver, state) == state)
                    {
                        Compute(job, work.First(c), work.End(c));
                        Volatile.Write(ref work.State[c], Done);
                        Interlocked.Increment(ref _takenOver);
                        break;
                    }
                    spin.SpinOnce(sleep1Threshold: -1);
                }
            }
        }

        private static int ElementSize(WeightFormat f) => f switch
        {
            WeightFormat.Float32 => 4,
            WeightFormat.BFloat16 or WeightFormat.Float16 => 2,
            _ => 1,
        };

        /// <summary>x copied into memory this splitter owns (see the remarks: a late helper may still read it).</summary>
        private float* CopyInput(in Job job)
        {
            var count = (long)job.N * job.InDim;
            if (count > _inputCapacity)
            {
                // The old buffer may still be read by a late helper: it is freed only with the splitter.
                if (_input is not null) _retiredInputs.Add((nint)_input);
                _inputCapacity = Math.Max(count, 2 * _inputCapacity);
                _input = (float*)NativeMemory.Alloc((nuint)_inputCapacity, sizeof(float));
            }
            Buffer.MemoryCopy(job.X, _input, _inputCapacity * sizeof(float), count * sizeof(float));
            return _input;
        }

        /// <summary>A helper's part of a job: claim chunks, compute them into scratch, publish those still its own.</summary>
        private static void Help(Work work, float* scratch, Action? pause)
        {
            ref readonly var job = ref work.Job;
            int chunk;
            while ((chunk = Interlocked.Increment(ref work.Next) - 1) < work.Chunks)
            {
                if (Interlocked.CompareExchange(ref work.State[chunk], Helping, Free) != Free) continue;
                int first = work.First(chunk), rows = work.End(chunk) - first;
                Compute(job, work.X, first, first + rows, scratch, rows);
                pause?.Invoke();
                if (Interlocked.CompareExchange(ref work.State[chunk], Publishing, Helping) != Helping) continue; // taken over
                for (var t = 0; t < job.N; t++)
                    Buffer.MemoryCopy(scratch + (long)t * rows, job.Y + (long)t * job.TotalRows + first, rows * sizeof(float), rows * sizeof(float));
                Volatile.Write(ref work.State[chunk], Done);
            }
        }

        private void HelperLoop(int index)
        {
            Work? last = null;
            while (true)
            {
                var spins = 0;
                Work? work;
                while ((work = Volatile.Read(ref _current)) == last && !_disposed)
                {
                    if (++spins < SpinIterations)
                    {
                        Thread.SpinWait(1);
                        continue;
                    }
                    Interlocked.Exchange(ref _sleeping[index], 1);
                    if (Volatile.Read(ref _current) == last && !_disposed)
                        _wake[index].Wait();
                    Interlocked.Exchange(ref _sleeping[index], 0);
                    spins = 0;
                }
                if (_disposed) return;
                last = work;
                Help(work!, _scratch[index], HelperPause);
            }
        }

        public void Dispose()
        {
            _disposed = true;
            for (var i = 0; i < _helpers.Length; i++)
            {
                _wake[i].Release();
                _helpers[i].Join();
                _wake[i].Dispose();
                NativeMemory.Free(_scratch[i]);
            }
            foreach (var p in _retiredInputs) NativeMemory.Free((void*)p);
            if (_input is not null) NativeMemory.Free(_input);
        }
    }
}
