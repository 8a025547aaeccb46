namespace Bento.Runtime.Engine;

/// <summary>The chosen token's log-probability and the most likely alternatives at that step.</summary>
public sealed record TokenLogprobs(float Logprob, IReadOnlyList<(int Id, float Logprob)> Top);

/// <summary>
/// Log-probabilities from a step's logits as the model gave them (vLLM's default, raw_logprobs: before temperature,
/// penalties and logit_bias), in double precision.
/// </summary>
public static class Logprobs
{
    public const int MaxTop = 20;

    public static TokenLogprobs Of(ReadOnlySpan<float> logits, int token, int top)
    {
        var max = float.NegativeInfinity;
        foreach (var l in logits) if (l > max) max = l;
        double sum = 0;
        foreach (var l in logits) sum += Math.Exp(l - max);
        var logZ = max + Math.Log(sum);
        var best = new List<(int Id, float Logprob)>(top + 1);
        if (top > 0)
        {
            // Keep the top entries sorted (top is at most 20, so insertion is cheap).
            for (var i = 0; i < logits.Length; i++)
            {
                var value = logits[i];
                if (best.Count == top && value <= best[^1].Logprob) continue;
                var at = best.FindIndex(b => value > b.Logprob);
                best.Insert(at < 0 ? best.Count : at, (i, value));
                if (best.Count > top) best.RemoveAt(best.Count - 1);
            }
            for (var i = 0; i < best.Count; i++) best[i] = (best[i].Id, (float)(best[i].Logprob - logZ));
        }
        return new TokenLogprobs((float)(logits[token] - logZ), best);
    }
}
