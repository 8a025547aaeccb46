using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Bento.Runtime.Model;

/// <summary>
/// The matrix multiplies of an inference step: y[N, sum(out)] = x[N, in] times each W[out, in] transposed, the
/// outputs side by side (q|k|v, gate|up). Large N (prefill) goes to LibTorch's GEMM. Small N (decode) is
/// memory-bound - every weight byte is read once per step, whatever N is - and LibTorch's batch-1 matrix-vector
/// path reads the [out, in] weights at only ~13 GB/s here (it does not use both cores); so for float32 this class
/// runs its own kernel: row dot products straight on the [out, in] weights (memory-mapped or copied, never
/// transposed), the rows of all matrices of one call shared between the calling thread and one helper thread.
/// </summary>
public sealed unsafe class Projector : IDisposable
{
    /// <summary>Row counts up to which the managed kernel is used (beyond, GEMM is compute-bound: LibTorch wins).</summary>
    public const int MaxManagedRows = 16;

    private readonly RowSplitter? _splitter;

    /// <param name="threads">Threads for the managed kernel (1 or 2; the helper thread spins briefly between calls
    /// and then sleeps). 0 disables the managed kernel (LibTorch everywhere).</param>
    public Projector(int threads)
    {
        Threads = threads;
        if (threads > 0 && Vector256.IsHardwareAccelerated)
            _splitter = new RowSplitter(threads);
    }

    public int Threads { get; }
    public bool UsesManagedKernel => _splitter is not null;

    public Tensor Project(Tensor x, params Tensor[] weights)
    {
        if (_splitter is not null && x.shape[0] <= MaxManagedRows && x.dtype == ScalarType.Float32 && x.dim() == 2
            && weights.All(w => w.dtype == ScalarType.Float32 && w.is_contiguous()))
            return Managed(x, weights);
        if (weights.Length == 1)
            return F.linear(x, weights[0]);
        return cat(weights.Select(w => F.linear(x, w)).ToArray(), 1);
    }

    private Tensor Managed(Tensor x, Tensor[] weights)
    {
        var xc = x.is_contiguous() ? x : x.contiguous();
        int n = (int)xc.shape[0], inDim = (int)xc.shape[1];
        var total = 0;
        var ws = new float*[weights.Length];
        var rows = new int[weights.Length];
        for (var i = 0; i < weights.Length; i++)
        {
            if (weights[i].shape[1] != inDim)
                throw new ArgumentException($"weight {i} is [{string.Join(", ", weights[i].shape)}] but x has {inDim} columns");
            ws[i] = TensorData.Float(weights[i]);
            rows[i] = (int)weights[i].shape[0];
            total += rows[i];
        }
        var y = empty([n, total], ScalarType.Float32);
        _splitter!.Run(new Job(TensorData.Float(xc), n, inDim, ws, rows, total, TensorData.Float(y)));
        if (!ReferenceEquals(xc, x)) xc.Dispose();
        return y;
    }

    public void Dispose() => _splitter?.Dispose();

    internal readonly struct Job(float* x, int n, int inDim, float*[] weights, int[] rows, int totalRows, float* y)
    {
        public readonly float* X = x;
        public readonly int N = n, InDim = inDim, TotalRows = totalRows;
        public readonly float*[] Weights = weights;
        public readonly int[] Rows = rows;
        public readonly float* Y = y;
    }

    /// <summary>Computes rows [first, end) of a job (global row numbering across its matrices).</summary>
    internal static void Compute(in Job job, int first, int end)
    {
        var offset = 0;
        for (var m = 0; m < job.Weights.Length && first < end; m++)
        {
            var rows = job.Rows[m];
            if (first < offset + rows)
            {
                var local = first - offset;
                var count = Math.Min(end, offset + rows) - first;
                RowDots(job.X, job.N, job.InDim, job.Weights[m] + (long)local * job.InDim, count, job.Y + first, job.TotalRows);
                first += count;
            }
            offset += rows;
        }
    }

    /// <summary>y[t, r] = dot(x[t, :], w[r, :]) for r &lt; rowCount, t &lt; n; y rows are yStride apart.</summary>
    /// <remarks>
    /// safetensors data is only 8-byte aligned (it starts at 8 + header length), so a mapped weight row typically
    /// starts mid-way into a 32-byte block and every vector load would straddle two blocks (and every other one two
    /// cache lines: ~20% slower decode measured). The first elements up to the next 32-byte boundary are therefore
    /// done one by one (all rows share that boundary when a row is a multiple of 8 floats), the rest with aligned
    /// weight loads (x, small and in L1, takes the unaligned ones).
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void RowDots(float* x, int n, int inDim, float* w, int rowCount, float* y, int yStride)
    {
        var head = inDim % 8 == 0 && ((nint)w & 3) == 0 ? (int)(((32 - ((nint)w & 31)) & 31) / 4) : 0;
        if (head > inDim) head = 0;
        var vecEnd = head + ((inDim - head) & ~7);
        var r = 0;
        for (; r + 4 <= rowCount; r += 4)
        {
            float* w0 = w + (long)r * inDim, w1 = w0 + inDim, w2 = w1 + inDim, w3 = w2 + inDim;
            var t = 0;
            // Two token rows per pass over the 4 weight rows: 8 independent accumulators, half the weight loads.
            for (; t + 2 <= n; t += 2)
            {
                float* xa = x + (long)t * inDim, xb = xa + inDim;
                Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
                Vector256<float> b0 = default, b1 = default, b2 = default, b3 = default;
                for (var i = head; i < vecEnd; i += 8)
                {
                    var xva = Vector256.Load(xa + i);
                    var xvb = Vector256.Load(xb + i);
                    var v0 = Vector256.Load(w0 + i);
                    var v1 = Vector256.Load(w1 + i);
                    var v2 = Vector256.Load(w2 + i);
                    var v3 = Vector256.Load(w3 + i);
                    a0 = Fma256(v0, xva, a0); b0 = Fma256(v0, xvb, b0);
                    a1 = Fma256(v1, xva, a1); b1 = Fma256(v1, xvb, b1);
                    a2 = Fma256(v2, xva, a2); b2 = Fma256(v2, xvb, b2);
                    a3 = Fma256(v3, xva, a3); b3 = Fma256(v3, xvb, b3);
                }
                float sa0 = Vector256.Sum(a0), sa1 = Vector256.Sum(a1), sa2 = Vector256.Sum(a2), sa3 = Vector256.Sum(a3);
                float sb0 = Vector256.Sum(b0), sb1 = Vector256.Sum(b1), sb2 = Vector256.Sum(b2), sb3 = Vector256.Sum(b3);
                for (var i = 0; i < inDim; i++)
                {
                    if (i == head) { i = vecEnd; if (i >= inDim) break; }
                    sa0 += w0[i] * xa[i]; sb0 += w0[i] * xb[i];
                    sa1 += w1[i] * xa[i]; sb1 += w1[i] * xb[i];
                    sa2 += w2[i] * xa[i]; sb2 += w2[i] * xb[i];
                    sa3 += w3[i] * xa[i]; sb3 += w3[i] * xb[i];
                }
                var ya = y + (long)t * yStride + r;
                var yb = ya + yStride;
                ya[0] = sa0; ya[1] = sa1; ya[2] = sa2; ya[3] = sa3;
                yb[0] = sb0; yb[1] = sb1; yb[2] = sb2; yb[3] = sb3;
            }
            for (; t < n; t++)
            {
                var xt = x + (long)t * inDim;
                Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
                for (var i = head; i < vecEnd; i += 8)
                {
                    var xv = Vector256.Load(xt + i);
                    a0 = Fma256(Vector256.Load(w0 + i), xv, a0);
                    a1 = Fma256(Vector256.Load(w1 + i), xv, a1);
                    a2 = Fma256(Vector256.Load(w2 + i), xv, a2);
                    a3 = Fma256(Vector256.Load(w3 + i), xv, a3);
                }
                float s0 = Vector256.Sum(a0), s1 = Vector256.Sum(a1), s2 = Vector256.Sum(a2), s3 = Vector256.Sum(a3);
                for (var i = 0; i < inDim; i++)
                {
                    if (i == head) { i = vecEnd; if (i >= inDim) break; }
                    s0 += w0[i] * xt[i];
                    s1 += w1[i] * xt[i];
                    s2 += w2[i] * xt[i];
                    s3 += w3[i] * xt[i];
                }
                var yt = y + (long)t * yStride + r;
                yt[0] = s0;
                yt[1] = s1;
                yt[2] = s2;
                yt[3] = s3;
            }
        }
        for (; r < rowCount; r++)
        {
            var wr = w + (long)r * inDim;
            for (var t = 0; t < n; t++)
            {
                var xt = x + (long)t * inDim;
                Vector256<float> a = default;
                for (var i = head; i < vecEnd; i += 8)
                    a = Fma256(Vector256.Load(wr + i), Vector256.Load(xt + i), a);
                var s = Vector256.Sum(a);
                for (var i = 0; i < inDim; i++)
                {
                    if (i == head) { i = vecEnd; if (i >= inDim) break; }
                    s += wr[i] * xt[i];
                }
                y[(long)t * yStride + r] = s;
            }
        }
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
    private sealed class RowSplitter : IDisposable
    {
        private const int SpinIterations = 100_000; // on the order of 100 us
        private const int ChunkRows = 32;

        private sealed class Work(Job job)
        {
            public readonly Job Job = job;
            public readonly int Chunks = (job.TotalRows + ChunkRows - 1) / ChunkRows;
            public int Next;
            public int Completed;

            /// <summary>Claims and computes chunks until none is left.</summary>
            public void Help()
            {
                int chunk;
                while ((chunk = Interlocked.Increment(ref Next) - 1) < Chunks)
                {
                    var first = chunk * ChunkRows;
                    Compute(Job, first, Math.Min(Job.TotalRows, first + ChunkRows));
                    Interlocked.Increment(ref Completed);
                }
            }
        }

        private readonly Thread[] _helpers;
        private readonly SemaphoreSlim[] _wake;
        private readonly int[] _sleeping;
        private Work? _current;
        private volatile bool _disposed;

        public RowSplitter(int threads)
        {
            var helpers = Math.Max(0, threads - 1);
            _helpers = new Thread[helpers];
            _wake = new SemaphoreSlim[helpers];
            _sleeping = new int[helpers];
            for (var i = 0; i < helpers; i++)
            {
                _wake[i] = new SemaphoreSlim(0);
                var index = i;
                _helpers[i] = new Thread(() => HelperLoop(index)) { IsBackground = true, Name = $"bento-gemv-{i + 1}" };
                _helpers[i].Start();
            }
        }

        public void Run(Job job)
        {
            if (_helpers.Length == 0 || (long)job.TotalRows * job.InDim < 32_768)
            {
                Compute(job, 0, job.TotalRows);
                return;
            }
            var work = new Work(job);
            Volatile.Write(ref _current, work);
            Interlocked.MemoryBarrier();
            for (var i = 0; i < _helpers.Length; i++)
                if (Volatile.Read(ref _sleeping[i]) == 1)
                    _wake[i].Release();
            work.Help();
            var spin = new SpinWait();
            while (Volatile.Read(ref work.Completed) != work.Chunks)
                spin.SpinOnce(sleep1Threshold: -1);
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
                work!.Help();
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
            }
        }
    }
}
