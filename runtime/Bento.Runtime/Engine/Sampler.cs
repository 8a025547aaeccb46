namespace Bento.Runtime.Engine;

/// <summary>
/// Picks the next token from one row of logits: greedy, or temperature + top-k + top-p sampling with the request's
/// own random stream (a seed makes it repeatable). Stop tokens are masked while min_tokens is not reached.
/// </summary>
public static class Sampler
{
    public static int Sample(ReadOnlySpan<float> logits, SamplingParams p, Random random, IReadOnlySet<int>? suppressed)
    {
        if (p.IsGreedy) return ArgMax(logits, suppressed);

        // Candidates: top-k first (cheap partial selection), then softmax with temperature, then the top-p nucleus.
        var k = p.TopK > 0 ? Math.Min(p.TopK, logits.Length) : logits.Length;
        var ids = new int[logits.Length];
        var count = 0;
        for (var i = 0; i < logits.Length; i++)
            if ((suppressed is null || !suppressed.Contains(i)) && !float.IsNegativeInfinity(logits[i]) && !float.IsNaN(logits[i]))
                ids[count++] = i;
        if (count == 0) return ArgMax(logits, null);
        var logitsCopy = logits.ToArray();
        var candidates = ids.AsSpan(0, count);
        candidates.Sort((a, b) => logitsCopy[b].CompareTo(logitsCopy[a]));
        candidates = candidates[..Math.Min(k, count)];

        var max = logitsCopy[candidates[0]];
        var probs = new double[candidates.Length];
        double total = 0;
        for (var i = 0; i < candidates.Length; i++)
        {
            probs[i] = Math.Exp((logitsCopy[candidates[i]] - max) / p.Temperature);
            total += probs[i];
        }
        var keep = candidates.Length;
        if (p.TopP < 1)
        {
            double cumulative = 0;
            for (var i = 0; i < candidates.Length; i++)
            {
                cumulative += probs[i] / total;
                if (cumulative >= p.TopP) { keep = i + 1; break; }
            }
        }
        double kept = 0;
        for (var i = 0; i < keep; i++) kept += probs[i];
        var target = random.NextDouble() * kept;
        for (var i = 0; i < keep; i++)
        {
            target -= probs[i];
            if (target <= 0) return candidates[i];
        }
        return candidates[keep - 1];
    }

    public static int ArgMax(ReadOnlySpan<float> logits, IReadOnlySet<int>? suppressed)
    {
        var best = -1;
        var bestValue = float.NegativeInfinity;
        for (var i = 0; i < logits.Length; i++)
        {
            if (suppressed is not null && suppressed.Contains(i)) continue;
            if (logits[i] > bestValue || best < 0) { best = i; bestValue = logits[i]; }
        }
        return best;
    }
}
