namespace Bento.Runtime.Engine;

/// <summary>Scheduler limits. MaxWaiting bounds the queue so overload becomes 503s, never an out-of-memory crash.</summary>
public sealed record EngineOptions
{
    /// <summary>Sequences decoded together at most; memory admits them by the tokens they really hold.</summary>
    public int MaxNumSeqs { get; init; } = EngineDefaults.MaxNumSeqs;
    public int MaxModelLen { get; init; } = 2048;
    /// <summary>Tokens processed per step across all sequences (chunked prefill keeps decode latency bounded); at least
    /// MaxNumSeqs so every running sequence can decode in each step.</summary>
    public int MaxBatchedTokens { get; init; } = 512;
    public int MaxWaiting { get; init; } = 256;
}
