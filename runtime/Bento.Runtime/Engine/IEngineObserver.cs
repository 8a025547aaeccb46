namespace Bento.Runtime.Engine;

/// <summary>Engine events for metrics (Prometheus) and logs. Called on the model thread: keep implementations cheap.</summary>
public interface IEngineObserver
{
    void PromptProcessed(int tokens) { }
    void TokenGenerated() { }
    void FirstToken(TimeSpan sinceArrival) { }
    void InterToken(TimeSpan sincePrevious) { }
    void Finished(FinishReason reason, TimeSpan sinceArrival, int promptTokens, int completionTokens) { }
    /// <summary>A sequence looked up its tokens in the prefix cache: <paramref name="queried"/> tokens asked for,
    /// <paramref name="hits"/> found (vLLM's prefix_cache_queries / prefix_cache_hits, in tokens).</summary>
    void PrefixCacheQueried(int queried, int hits) { }
    /// <summary>A running sequence gave its KV blocks back under memory pressure; it will be recomputed.</summary>
    void Preempted() { }

    public static readonly IEngineObserver None = new NullObserver();

    private sealed class NullObserver : IEngineObserver { }
}

/// <summary>A snapshot of the scheduler's state for /metrics and /health.</summary>
/// <param name="KvCacheUsage">Share of KV blocks referenced by sequences (0..1).</param>
public sealed record EngineStats(int Running, int Waiting, double KvCacheUsage, long StepsRun,
    int KvBlocksUsed = 0, int KvBlocksTotal = 0, int KvBlocksCached = 0, long Preemptions = 0);
