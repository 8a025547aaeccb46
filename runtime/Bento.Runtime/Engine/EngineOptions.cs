namespace Bento.Runtime.Engine;

/// <summary>Scheduler limits. MaxWaiting bounds the queue so overload becomes 503s, never an out-of-memory crash.</summary>
public sealed record EngineOptions
{
    public int MaxNumSeqs { get; init; } = EngineDefaults.MaxNumSeqs;
    public int MaxModelLen { get; init; } = 2048;
    /// <summary>Prompt tokens processed per step across all sequences (chunked prefill keeps decode latency bounded).</summary>
    public int MaxBatchedTokens { get; init; } = 512;
    public int MaxWaiting { get; init; } = 256;
}
