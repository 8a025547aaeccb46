namespace Bento.Runtime.Engine;

/// <summary>
/// How to pick tokens, with OpenAI/vLLM meanings. Temperature 0 is greedy. TopK &lt;= 0 and TopP = 1 disable those
/// filters. MinTokens suppresses stop tokens until that many were generated; IgnoreEos keeps going to MaxTokens
/// (benchmark tools send both).
/// </summary>
public sealed record SamplingParams
{
    public int MaxTokens { get; init; } = 16;
    public float Temperature { get; init; } = 1.0f;
    public float TopP { get; init; } = 1.0f;
    public int TopK { get; init; }
    public long? Seed { get; init; }
    public IReadOnlyList<string> Stop { get; init; } = [];
    public IReadOnlyList<int> StopTokenIds { get; init; } = [];
    public bool IgnoreEos { get; init; }
    public int MinTokens { get; init; }
    /// <summary>OpenAI's -2..2: subtracted once per token already generated.</summary>
    public float PresencePenalty { get; init; }
    /// <summary>OpenAI's -2..2: subtracted per occurrence in the output so far.</summary>
    public float FrequencyPenalty { get; init; }
    /// <summary>vLLM's (0, 2]: 1 is off; above 1 discourages tokens of the prompt and the output.</summary>
    public float RepetitionPenalty { get; init; } = 1;
    /// <summary>OpenAI's logit_bias: token id to a bias from -100 to 100, added before sampling.</summary>
    public IReadOnlyDictionary<int, float> LogitBias { get; init; } = new Dictionary<int, float>();
    /// <summary>Null: no logprobs. N: the chosen token's logprob and the N most likely ones (0 to 20).</summary>
    public int? Logprobs { get; init; }
    /// <summary>Null: none. N: each prompt token's logprob and the N most likely alternatives (vLLM's prompt_logprobs;
    /// completions' echo with logprobs). Prefills such prompts one token per step.</summary>
    public int? PromptLogprobs { get; init; }
    /// <summary>Constrained decoding (response_format, guided_*, tool calls): each sequence starts its own state from it.</summary>
    public ILogitsConstraintFactory? Constraint { get; init; }

    public bool IsGreedy => Temperature < 1e-5f;

    /// <summary>Checks the parameters against the engine's limits; the message is what the client sees.</summary>
    public void Validate(int promptTokens, int maxModelLen)
    {
        if (MaxTokens < 1) throw new InvalidRequestException("max_tokens must be at least 1", "max_tokens");
        if (float.IsNaN(Temperature) || Temperature < 0 || Temperature > 100) throw new InvalidRequestException($"temperature must be between 0 and 100, got {Temperature}", "temperature");
        if (float.IsNaN(TopP) || TopP <= 0 || TopP > 1) throw new InvalidRequestException($"top_p must be in (0, 1], got {TopP}", "top_p");
        if (TopK < -1) throw new InvalidRequestException($"top_k must be -1 (off) or positive, got {TopK}", "top_k");
        if (MinTokens < 0 || MinTokens > MaxTokens) throw new InvalidRequestException($"min_tokens must be between 0 and max_tokens ({MaxTokens}), got {MinTokens}", "min_tokens");
        if (Stop.Count > 16 || Stop.Any(s => s.Length == 0)) throw new InvalidRequestException("stop accepts at most 16 non-empty strings", "stop");
        if (!(PresencePenalty is >= -2 and <= 2)) throw new InvalidRequestException($"presence_penalty must be between -2 and 2, got {PresencePenalty}", "presence_penalty");
        if (!(FrequencyPenalty is >= -2 and <= 2)) throw new InvalidRequestException($"frequency_penalty must be between -2 and 2, got {FrequencyPenalty}", "frequency_penalty");
        if (!(RepetitionPenalty is > 0 and <= 2)) throw new InvalidRequestException($"repetition_penalty must be in (0, 2], got {RepetitionPenalty}", "repetition_penalty");
        if (LogitBias.Count > 1024 || LogitBias.Values.Any(b => !(b is >= -100 and <= 100)))
            throw new InvalidRequestException("logit_bias takes at most 1024 token ids, each with a bias from -100 to 100", "logit_bias");
        if (PromptLogprobs is < 0 or > Engine.Logprobs.MaxTop) throw new InvalidRequestException($"prompt_logprobs must be between 0 and {Engine.Logprobs.MaxTop}, got {PromptLogprobs}", "prompt_logprobs");
        if (Logprobs is < 0 or > Engine.Logprobs.MaxTop) throw new InvalidRequestException($"top_logprobs must be between 0 and {Engine.Logprobs.MaxTop}, got {Logprobs}", "top_logprobs");
        if (promptTokens == 0) throw new InvalidRequestException("the prompt is empty", "prompt");
        if (promptTokens >= maxModelLen)
            throw new InvalidRequestException($"the prompt has {promptTokens} tokens but this model's maximum context length is {maxModelLen} tokens", "prompt");
        if ((long)promptTokens + MaxTokens > maxModelLen)
            throw new InvalidRequestException(
                $"this model's maximum context length is {maxModelLen} tokens; you requested {promptTokens + (long)MaxTokens} tokens ({promptTokens} in the prompt, {MaxTokens} for the completion); reduce the prompt or max_tokens", "max_tokens");
    }
}

/// <summary>A request the engine cannot accept as given (HTTP 400).</summary>
public sealed class InvalidRequestException : Exception
{
    public InvalidRequestException(string message, string? param = null) : base(message) => Param = param;

    public string? Param { get; }
}

/// <summary>The engine's queue is full (HTTP 503 with Retry-After): shed load rather than run out of memory.</summary>
public sealed class EngineOverloadedException : Exception
{
    public EngineOverloadedException(string message) : base(message) { }
}
