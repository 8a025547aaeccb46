using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using static TorchSharp.torch;

namespace Bento.Runtime.Model;

/// <summary>
/// The KV-cache write and decode attention as managed float32 loops over the paged cache
/// ([blocks, kv_heads, BlockSize, head_dim] per layer, see <see cref="KvCache"/>). A decode step's attention reads every
/// cached key and value of every sequence once and does little arithmetic per byte, so it is memory-bound like the
/// matrix multiplies: the loops stream each block's 16 x head_dim keys of one kv head and score all query heads of that
/// kv head against them (grouped-query attention reads K and V once, not once per query head). Rows are independent,
/// so large batches or long contexts are split over threads.
/// </summary>
internal static unsafe class PagedAttention
{
    private const int B = KvCache.BlockSize;

    /// <summary>Bytes of K and V read by one step below which splitting over threads costs more than it saves.</summary>
    private const long ParallelBytes = 2 << 20;

    /// <summary>
    /// Copies each row's key and value heads (columns <paramref name="keyColumn"/> and <paramref name="valueColumn"/>
    /// of <paramref name="qkv"/>) to cache slot <paramref name="slots"/>[row] = block * BlockSize + offset.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void WriteCache(Tensor qkv, int keyColumn, int valueColumn, int kvHeads, int headDim,
        long[] slots, Tensor keys, Tensor values)
    {
        int n = (int)qkv.shape[0], columns = (int)qkv.shape[1];
        float* p = TensorData.Float(qkv), pk = TensorData.Float(keys), pv = TensorData.Float(values);
        var bytes = headDim * sizeof(float);
        for (var r = 0; r < n; r++)
        {
            long block = slots[r] / B, offset = slots[r] % B;
            var row = p + (long)r * columns;
            for (var h = 0; h < kvHeads; h++)
            {
                var at = ((block * kvHeads + h) * B + offset) * headDim;
                Buffer.MemoryCopy(row + keyColumn + h * headDim, pk + at, bytes, bytes);
                Buffer.MemoryCopy(row + valueColumn + h * headDim, pv + at, bytes, bytes);
            }
        }
    }

    /// <summary>
    /// Decode attention: row d is one token at <paramref name="positions"/>[d] whose cache is the block table
    /// <paramref name="blockTables"/>[d]; for each query head, softmax(cap(q . K[first..position] * scale)) . V[first..position]
    /// with the layer's <paramref name="spec"/>: first is 0 or, for a sliding-window layer, position - window + 1; scale
    /// its score scale; cap its soft-cap (Gemma 2) if any. Query head h reads kv head h / (heads / kvHeads). q is read
    /// from columns [0, heads * hd) of <paramref name="qkv"/>; returns [rows, heads * hd].
    /// </summary>
    public static Tensor DecodeAttention(Tensor qkv, int rows, int heads, int kvHeads, int headDim,
        IReadOnlyList<int[]> blockTables, long[] positions, Tensor keys, Tensor values, LayerAttention spec, int threads)
    {
        var window = spec.Window;
        var y = empty([rows, (long)heads * headDim], ScalarType.Float32);
        var job = new Job
        {
            Q = (nint)TensorData.Float(qkv), QStride = (int)qkv.shape[1], Y = (nint)TensorData.Float(y),
            K = (nint)TensorData.Float(keys), V = (nint)TensorData.Float(values),
            Heads = heads, KvHeads = kvHeads, HeadDim = headDim, Window = window,
            Tables = blockTables, Positions = positions, Scale = (float)spec.Scale, Softcap = (float)(spec.LogitSoftcap ?? 0),
        };
        var items = rows * kvHeads;
        long keysRead = 0;
        for (var d = 0; d < rows; d++)
        {
            var (first, last) = StepBatch.KeyRange((int)positions[d], window);
            keysRead += last - first + 1;
        }
        if (threads > 1 && items > 1 && keysRead * kvHeads * headDim * 2 * sizeof(float) >= ParallelBytes)
            Parallel.For(0, items, new ParallelOptions { MaxDegreeOfParallelism = threads }, job.Run);
        else
            for (var i = 0; i < items; i++) job.Run(i);
        return y;
    }

    /// <summary>One (row, kv head) of decode attention; plain fields so that thread-pool workers can run it.</summary>
    private sealed class Job
    {
        public nint Q, Y, K, V;
        public int QStride, Heads, KvHeads, HeadDim;
        public int? Window;
        public float Scale, Softcap;
        public required IReadOnlyList<int[]> Tables;
        public required long[] Positions;

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Run(int item)
        {
            int d = item / KvHeads, kvHead = item % KvHeads, hd = HeadDim, groups = Heads / KvHeads;
            var (first, last) = StepBatch.KeyRange((int)Positions[d], Window);
            var count = last - first + 1;
            var table = Tables[d];
            float* pk = (float*)K, pv = (float*)V;
            var q = (float*)Q + (long)d * QStride + kvHead * groups * hd;       // the group's query heads, side by side
            var o = (float*)Y + (long)d * Heads * hd + kvHead * groups * hd;
            var need = groups * count;
            float[]? rented = null;
            var scores = need <= 8192 ? stackalloc float[need] : (rented = ArrayPool<float>.Shared.Rent(need)).AsSpan(0, need);
            try
            {
                // Scores, block by block: keys [t0, t1) of block b are contiguous for this kv head.
                for (var b = first / B; b <= last / B; b++)
                {
                    var kBlock = pk + ((long)table[b] * KvHeads + kvHead) * B * hd;
                    int t0 = Math.Max(first, b * B), t1 = Math.Min(last + 1, (b + 1) * B);
                    for (var t = t0; t < t1; t++)
                    {
                        var k = kBlock + (long)(t - b * B) * hd;
                        for (var g = 0; g < groups; g++)
                        {
                            var score = Dot(q + g * hd, k, hd) * Scale;
                            scores[g * count + t - first] = Softcap == 0 ? score : Softcap * MathF.Tanh(score / Softcap);
                        }
                    }
                }
                for (var g = 0; g < groups; g++)
                    Softmax(scores.Slice(g * count, count));
                new Span<float>(o, groups * hd).Clear();
                for (var b = first / B; b <= last / B; b++)
                {
                    var vBlock = pv + ((long)table[b] * KvHeads + kvHead) * B * hd;
                    int t0 = Math.Max(first, b * B), t1 = Math.Min(last + 1, (b + 1) * B);
                    for (var t = t0; t < t1; t++)
                    {
                        var v = vBlock + (long)(t - b * B) * hd;
                        for (var g = 0; g < groups; g++)
                            Axpy(scores[g * count + t - first], v, o + g * hd, hd);
                    }
                }
            }
            finally
            {
                if (rented is not null) ArrayPool<float>.Shared.Return(rented);
            }
        }
    }

    private static void Softmax(Span<float> s)
    {
        var max = float.NegativeInfinity;
        foreach (var v in s) if (v > max) max = v;
        var sum = 0f;
        for (var i = 0; i < s.Length; i++)
        {
            var e = MathF.Exp(s[i] - max);
            s[i] = e;
            sum += e;
        }
        var inv = 1f / sum;
        for (var i = 0; i < s.Length; i++) s[i] *= inv;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float Dot(float* a, float* b, int n)
    {
        var i = 0;
        var acc = Vector256<float>.Zero;
        if (Vector256.IsHardwareAccelerated)
            for (; i + 8 <= n; i += 8)
                acc += Vector256.Load(a + i) * Vector256.Load(b + i);
        var s = Vector256.Sum(acc);
        for (; i < n; i++) s += a[i] * b[i];
        return s;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Axpy(float alpha, float* x, float* y, int n)
    {
        var i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var a = Vector256.Create(alpha);
            for (; i + 8 <= n; i += 8)
                (Vector256.Load(y + i) + a * Vector256.Load(x + i)).Store(y + i);
        }
        for (; i < n; i++) y[i] += alpha * x[i];
    }
}
