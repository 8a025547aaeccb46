namespace Bento.Runtime.Engine;

public enum FinishReason { Stop, Length, Abort }

/// <summary>What a request's output stream carries: text deltas as tokens are accepted, then one Finished.</summary>
public abstract record GenerationEvent;

/// <summary>One generated token; <see cref="TextDelta"/> may be empty while a multi-byte character or a possible stop string is held back.
/// <see cref="Logprobs"/> is set when the request asked for logprobs.</summary>
public sealed record TokenGenerated(int TokenId, string TextDelta, TokenLogprobs? Logprobs = null) : GenerationEvent;

/// <summary>The prompt's tokens scored by the model (asked for with <see cref="SamplingParams.PromptLogprobs"/>), before
/// the first generated token: one entry per prompt token, null for the first (nothing precedes it).</summary>
public sealed record PromptScored(IReadOnlyList<TokenLogprobs?> Logprobs) : GenerationEvent;

/// <summary>The end of a request, with any held-back text that turned out safe to emit.</summary>
public sealed record GenerationFinished(FinishReason Reason, string TextDelta, int PromptTokens, int CompletionTokens, string? MatchedStop) : GenerationEvent;

public sealed record GenerationRequest(string Id, IReadOnlyList<int> PromptTokens, SamplingParams Sampling);
