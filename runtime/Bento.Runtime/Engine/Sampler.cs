namespace Bento.Runtime.Engine;

/// <summary>
/// Picks the next token from one row of logits: greedy, or temperature + top-k + top-p sampling with the request's
/// own random stream (a seed makes it repeatable). Stop tokens are masked while min_tokens is not reached.
/// </summary>
/// <remarks>
/// Nothing here sorts the whole vocabulary: at 128k tokens that cost ~100 ms a token, as much as a decode step of a
/// 1B model. Top-k keeps the logits at or above the k-th largest (found by selection; ties at the k-th value stay, as
/// vLLM's mask keeps them); top-p sorts only the tokens above a probability threshold that already carry the nucleus's
/// mass, which is every token the nucleus can contain. Without top-p no sort happens at all. The scratch buffers are
/// per thread (the engine samples on its one loop thread), so a step allocates nothing.
/// </remarks>
public static class Sampler
{
    [ThreadStatic] private static int[]? t_ids;
    [ThreadStatic] private static double[]? t_probs;
    [ThreadStatic] private static float[]? t_values;
    [ThreadStatic] private static double[]? t_keys;

    public static int Sample(ReadOnlySpan<float> logits, SamplingParams p, Random random, IReadOnlySet<int>? suppressed)
    {
        if (p.IsGreedy) return Best(logits, suppressed);

        var ids = Scratch(ref t_ids, logits.Length);
        var count = 0;
        var max = float.NegativeInfinity;
        for (var i = 0; i < logits.Length; i++)
        {
            var v = logits[i];
            if (float.IsNegativeInfinity(v) || float.IsNaN(v) || suppressed is not null && suppressed.Contains(i)) continue;
            ids[count++] = i;
            if (v > max) max = v;
        }
        // Nothing finite left (every token masked or suppressed).
        if (count == 0) return Best(logits, suppressed);
        // A +inf logit (a bias or constraint gone to the limit) outweighs everything: it is the pick.
        if (float.IsPositiveInfinity(max))
            for (var j = 0; j < count; j++)
                if (float.IsPositiveInfinity(logits[ids[j]])) return ids[j];

        if (p.TopK > 0 && p.TopK < count)
        {
            var values = Scratch(ref t_values, count);
            for (var j = 0; j < count; j++) values[j] = logits[ids[j]];
            var kth = KthLargest(values.AsSpan(0, count), p.TopK);
            var kept = 0;
            for (var j = 0; j < count; j++)
                if (logits[ids[j]] >= kth) ids[kept++] = ids[j];
            count = kept;
        }

        // Probabilities relative to the largest (which every filter keeps): exp((l - max) / T), the largest is 1.
        var probs = Scratch(ref t_probs, count);
        double total = 0;
        for (var j = 0; j < count; j++)
        {
            probs[j] = Math.Exp((logits[ids[j]] - max) / p.Temperature);
            total += probs[j];
        }
        if (p.TopP < 1) count = Nucleus(ids, probs, count, total, p.TopP, out total);

        var target = random.NextDouble() * total;
        for (var j = 0; j < count; j++)
        {
            target -= probs[j];
            if (target <= 0) return ids[j];
        }
        return ids[count - 1];
    }

    /// <summary>
    /// Reorders the first <paramref name="count"/> tokens so that the nucleus (the most probable tokens, descending,
    /// up to the first whose cumulative share reaches <paramref name="topP"/>) comes first; returns its size and mass.
    /// </summary>
    private static int Nucleus(int[] ids, double[] probs, int count, double total, float topP, out double kept)
    {
        // Lower the threshold until the tokens at or above it carry topP of the mass: sorted descending, the nucleus
        // then ends inside that set, so only the set is sorted.
        var needed = topP * total;
        double threshold = 1, mass;
        var size = 0;
        do
        {
            threshold /= 16;
            mass = 0;
            size = 0;
            for (var j = 0; j < count; j++)
                if (probs[j] >= threshold) { mass += probs[j]; size++; }
        } while (mass < needed && threshold > 0);

        var front = 0;
        for (var j = 0; j < count; j++)
        {
            if (probs[j] < threshold) continue;
            (ids[front], ids[j]) = (ids[j], ids[front]);
            (probs[front], probs[j]) = (probs[j], probs[front]);
            front++;
        }
        // Descending by probability (sorted ascending on the negated value; the same input always sorts the same way,
        // so a seed always gives the same token).
        var keys = Scratch(ref t_keys, size);
        for (var j = 0; j < size; j++) keys[j] = -probs[j];
        Array.Sort(keys, ids, 0, size);

        double cumulative = 0;
        var keep = size;
        for (var j = 0; j < size; j++)
        {
            probs[j] = -keys[j];
            cumulative += probs[j] / total;
            if (cumulative >= topP && keep == size) keep = j + 1;
        }
        kept = 0;
        for (var j = 0; j < keep; j++) kept += probs[j];
        return keep;
    }

    /// <summary>The k-th largest of <paramref name="values"/> (1-based), by quickselect; reorders the span.</summary>
    internal static float KthLargest(Span<float> values, int k)
    {
        int lo = 0, hi = values.Length - 1, target = k - 1;
        while (lo < hi)
        {
            // Median of three as the pivot, then a three-way partition (many equal logits are common after biases).
            var mid = lo + (hi - lo) / 2;
            var pivot = Median(values[lo], values[mid], values[hi]);
            int lt = lo, i = lo, gt = hi;
            while (i <= gt)
            {
                if (values[i] > pivot)
                {
                    (values[lt], values[i]) = (values[i], values[lt]);
                    lt++;
                    i++;
                }
                else if (values[i] < pivot)
                {
                    (values[i], values[gt]) = (values[gt], values[i]);
                    gt--;
                }
                else i++;
            }
            // [lo, lt) larger than the pivot, [lt, gt] equal, (gt, hi] smaller.
            if (target < lt) hi = lt - 1;
            else if (target > gt) lo = gt + 1;
            else return pivot;
        }
        return values[target];
    }

    private static float Median(float a, float b, float c) =>
        a > b ? (b > c ? b : a > c ? c : a) : (a > c ? a : b > c ? c : b);

    private static T[] Scratch<T>(ref T[]? buffer, int length)
    {
        if (buffer is null || buffer.Length < length) buffer = new T[Math.Max(length, buffer?.Length * 2 ?? 0)];
        return buffer;
    }

    /// <summary>
    /// The largest unsuppressed logit's token; where every token is NaN or suppressed, the best ignoring suppression,
    /// or token 0 for a row of NaNs (a broken model has no right answer; failing here would stop the engine for every
    /// other sequence too).
    /// </summary>
    private static int Best(ReadOnlySpan<float> logits, IReadOnlySet<int>? suppressed) =>
        ArgMax(logits, suppressed) is >= 0 and var best ? best : Math.Max(0, ArgMax(logits, null));

    /// <summary>The largest logit's token, NaNs and <paramref name="suppressed"/> tokens skipped (first of equals);
    /// when everything else is NaN or -inf, the first token that is neither suppressed nor NaN; -1 when none is.</summary>
    public static int ArgMax(ReadOnlySpan<float> logits, IReadOnlySet<int>? suppressed)
    {
        var best = -1;
        var bestValue = float.NegativeInfinity;
        for (var i = 0; i < logits.Length; i++)
        {
            var v = logits[i];
            if (float.IsNaN(v) || suppressed is not null && suppressed.Contains(i)) continue;
            if (v > bestValue || best < 0) { best = i; bestValue = v; }
        }
        return best;
    }
}
