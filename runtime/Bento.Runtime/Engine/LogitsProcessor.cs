namespace Bento.Runtime.Engine;

/// <summary>
/// Adjusts one row of logits before sampling, with vLLM's meanings: <c>logit_bias</c> adds to given tokens;
/// <c>repetition_penalty</c> divides positive (multiplies negative) logits of every token already in the prompt or the
/// output; <c>frequency_penalty</c> subtracts per occurrence in the output and <c>presence_penalty</c> once per token
/// that occurred. Greedy decoding sees the adjusted logits too.
/// </summary>
public static class LogitsProcessor
{
    public static bool IsActive(SamplingParams p) =>
        p.LogitBias.Count > 0 || p.RepetitionPenalty != 1 || p.FrequencyPenalty != 0 || p.PresencePenalty != 0;

    /// <param name="prompt">The prompt's ids (repetition_penalty counts them).</param>
    /// <param name="outputCounts">How often each id was generated so far.</param>
    public static void Apply(Span<float> logits, SamplingParams p, IReadOnlySet<int> prompt, IReadOnlyDictionary<int, int> outputCounts)
    {
        foreach (var (id, bias) in p.LogitBias)
            if ((uint)id < (uint)logits.Length) logits[id] += bias;

        if (p.RepetitionPenalty != 1)
        {
            foreach (var id in prompt) Repeat(logits, id, p.RepetitionPenalty);
            foreach (var id in outputCounts.Keys)
                if (!prompt.Contains(id)) Repeat(logits, id, p.RepetitionPenalty);
        }
        if (p.FrequencyPenalty != 0 || p.PresencePenalty != 0)
            foreach (var (id, count) in outputCounts)
                if ((uint)id < (uint)logits.Length)
                    logits[id] -= p.FrequencyPenalty * count + p.PresencePenalty;
    }

    private static void Repeat(Span<float> logits, int id, float penalty)
    {
        if ((uint)id >= (uint)logits.Length) return;
        logits[id] = logits[id] > 0 ? logits[id] / penalty : logits[id] * penalty;
    }
}
