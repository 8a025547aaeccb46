using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
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
                // Scores, block by block: keys [t0, t1) of block b are contiguous for this kv head; eight keys at a
                // time per query head (eight independent dot products in flight, one reduction for all eight).
                fixed (float* sp = scores)
                {
                    for (var b = first / B; b <= last / B; b++)
                    {
                        var kBlock = pk + ((long)table[b] * KvHeads + kvHead) * B * hd;
                        int t0 = Math.Max(first, b * B), t1 = Math.Min(last + 1, (b + 1) * B);
                        // The blocks of one kv head are a few KiB each, far apart: too short for the hardware
                        // prefetchers to find. Ask for the next block's keys and this block's values now.
                        if (b < last / B) Prefetch(pk + ((long)table[b + 1] * KvHeads + kvHead) * B * hd, B * hd);
                        Prefetch(pv + ((long)table[b] * KvHeads + kvHead) * B * hd, B * hd);
                        for (var g = 0; g < groups; g++)
                        {
                            var qg = q + g * hd;
                            var sg = sp + g * count - first;
                            var t = t0;
                            for (; t + 8 <= t1; t += 8)
                                Dot8(qg, kBlock + (long)(t - b * B) * hd, hd).Store(sg + t);
                            for (; t < t1; t++)
                                sg[t] = Dot(qg, kBlock + (long)(t - b * B) * hd, hd);
                        }
                    }
                    ScaleAndCap(sp, need, Scale, Softcap);
                    for (var g = 0; g < groups; g++)
                        Softmax(sp + g * count, count);
                    // Values, block by block: each query head's output accumulates in registers over the block's keys.
                    new Span<float>(o, groups * hd).Clear();
                    for (var b = first / B; b <= last / B; b++)
                    {
                        var vBlock = pv + ((long)table[b] * KvHeads + kvHead) * B * hd;
                        int t0 = Math.Max(first, b * B), t1 = Math.Min(last + 1, (b + 1) * B);
                        for (var g = 0; g < groups; g++)
                            WeightedSum(sp + g * count + t0 - first, vBlock + (long)(t0 - b * B) * hd, t1 - t0, hd, o + g * hd);
                    }
                }
            }
            finally
            {
                if (rented is not null) ArrayPool<float>.Shared.Return(rented);
            }
        }
    }

    /// <summary>Prefetches <paramref name="floats"/> floats from <paramref name="p"/> into the cache, line by line.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Prefetch(float* p, int floats)
    {
        if (!Sse.IsSupported) return;
        for (var i = 0; i < floats; i += 16) Sse.Prefetch0(p + i);
    }

    /// <summary>s[i] = cap * tanh(s[i] * scale / cap), or s[i] * scale without a cap.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ScaleAndCap(float* s, int count, float scale, float cap)
    {
        var i = 0;
        if (cap == 0)
        {
            for (; i + 8 <= count; i += 8) (Vector256.Load(s + i) * scale).Store(s + i);
            for (; i < count; i++) s[i] *= scale;
            return;
        }
        float inner = scale / cap;
        for (; i + 8 <= count; i += 8) (VectorMath.Tanh(Vector256.Load(s + i) * inner) * cap).Store(s + i);
        for (; i < count; i++) s[i] = cap * MathF.Tanh(s[i] * inner);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Softmax(float* s, int count)
    {
        var i = 0;
        var maxV = Vector256.Create(float.NegativeInfinity);
        for (; i + 8 <= count; i += 8) maxV = Vector256.Max(maxV, Vector256.Load(s + i));
        var max = float.NegativeInfinity;
        for (var l = 0; l < 8; l++) max = MathF.Max(max, maxV[l]);
        for (; i < count; i++) max = MathF.Max(max, s[i]);
        var sumV = Vector256<float>.Zero;
        var m = Vector256.Create(max);
        for (i = 0; i + 8 <= count; i += 8)
        {
            var e = VectorMath.Exp(Vector256.Load(s + i) - m);
            e.Store(s + i);
            sumV += e;
        }
        var sum = Vector256.Sum(sumV);
        for (; i < count; i++)
        {
            var e = MathF.Exp(s[i] - max);
            s[i] = e;
            sum += e;
        }
        var inv = Vector256.Create(1f / sum);
        for (i = 0; i + 8 <= count; i += 8) (Vector256.Load(s + i) * inv).Store(s + i);
        for (; i < count; i++) s[i] *= inv[0];
    }

    /// <summary>q . k for the eight keys k, k + hd, ..., k + 7 hd: [8] sums.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static Vector256<float> Dot8(float* q, float* k, int hd)
    {
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
        var i = 0;
        for (; i + 8 <= hd; i += 8)
        {
            var qv = Vector256.Load(q + i);
            var p = k + i;
            a0 = MulAdd(qv, Vector256.Load(p), a0);
            a1 = MulAdd(qv, Vector256.Load(p + hd), a1);
            a2 = MulAdd(qv, Vector256.Load(p + 2 * hd), a2);
            a3 = MulAdd(qv, Vector256.Load(p + 3 * hd), a3);
            a4 = MulAdd(qv, Vector256.Load(p + 4 * hd), a4);
            a5 = MulAdd(qv, Vector256.Load(p + 5 * hd), a5);
            a6 = MulAdd(qv, Vector256.Load(p + 6 * hd), a6);
            a7 = MulAdd(qv, Vector256.Load(p + 7 * hd), a7);
        }
        Vector256<float> sums;
        if (Avx.IsSupported)
        {
            // hadd pairs: [a0 a1 a2 a3 sums of the lower halves | the same of the upper halves], likewise a4..a7.
            var low = Avx.HorizontalAdd(Avx.HorizontalAdd(a0, a1), Avx.HorizontalAdd(a2, a3));
            var high = Avx.HorizontalAdd(Avx.HorizontalAdd(a4, a5), Avx.HorizontalAdd(a6, a7));
            sums = Avx.Permute2x128(low, high, 0x20) + Avx.Permute2x128(low, high, 0x31);
        }
        else
            sums = Vector256.Create(Vector256.Sum(a0), Vector256.Sum(a1), Vector256.Sum(a2), Vector256.Sum(a3),
                Vector256.Sum(a4), Vector256.Sum(a5), Vector256.Sum(a6), Vector256.Sum(a7));
        if (i == hd) return sums;
        for (var j = 0; j < 8; j++)
        {
            var extra = 0f;
            for (var c = i; c < hd; c++) extra += q[c] * k[(long)j * hd + c];
            sums = sums.WithElement(j, sums[j] + extra);
        }
        return sums;
    }

    /// <summary>o[0, hd) += sum over t &lt; count of p[t] * v[t hd .. t hd + hd): 32 columns at a time in registers,
    /// even and odd keys in separate accumulators.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void WeightedSum(float* p, float* v, int count, int hd, float* o)
    {
        var c = 0;
        for (; c + 32 <= hd; c += 32)
        {
            Vector256<float> e0 = default, e1 = default, e2 = default, e3 = default, d0 = default, d1 = default, d2 = default, d3 = default;
            var t = 0;
            for (; t + 2 <= count; t += 2)
            {
                var pe = Vector256.Create(p[t]);
                var po = Vector256.Create(p[t + 1]);
                float* ve = v + (long)t * hd + c, vo = ve + hd;
                e0 = MulAdd(pe, Vector256.Load(ve), e0); d0 = MulAdd(po, Vector256.Load(vo), d0);
                e1 = MulAdd(pe, Vector256.Load(ve + 8), e1); d1 = MulAdd(po, Vector256.Load(vo + 8), d1);
                e2 = MulAdd(pe, Vector256.Load(ve + 16), e2); d2 = MulAdd(po, Vector256.Load(vo + 16), d2);
                e3 = MulAdd(pe, Vector256.Load(ve + 24), e3); d3 = MulAdd(po, Vector256.Load(vo + 24), d3);
            }
            if (t < count)
            {
                var pe = Vector256.Create(p[t]);
                var ve = v + (long)t * hd + c;
                e0 = MulAdd(pe, Vector256.Load(ve), e0);
                e1 = MulAdd(pe, Vector256.Load(ve + 8), e1);
                e2 = MulAdd(pe, Vector256.Load(ve + 16), e2);
                e3 = MulAdd(pe, Vector256.Load(ve + 24), e3);
            }
            (Vector256.Load(o + c) + (e0 + d0)).Store(o + c);
            (Vector256.Load(o + c + 8) + (e1 + d1)).Store(o + c + 8);
            (Vector256.Load(o + c + 16) + (e2 + d2)).Store(o + c + 16);
            (Vector256.Load(o + c + 24) + (e3 + d3)).Store(o + c + 24);
        }
        for (; c + 8 <= hd; c += 8)
        {
            var acc = Vector256<float>.Zero;
            for (var t = 0; t < count; t++)
                acc = MulAdd(Vector256.Create(p[t]), Vector256.Load(v + (long)t * hd + c), acc);
            (Vector256.Load(o + c) + acc).Store(o + c);
        }
        for (; c < hd; c++)
        {
            var acc = 0f;
            for (var t = 0; t < count; t++) acc += p[t] * v[(long)t * hd + c];
            o[c] += acc;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> MulAdd(Vector256<float> a, Vector256<float> b, Vector256<float> c) =>
        Fma.IsSupported ? Fma.MultiplyAdd(a, b, c) : a * b + c;

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
}
