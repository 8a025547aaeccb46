namespace Bento.Runtime.Engine;

/// <summary>Engine events for metrics (Prometheus) and logs. Called on the model thread: keep implementations cheap.</summary>
public interface IEngineObserver
{
    void PromptProcessed(int tokens) { }
    void TokenGenerated() { }
    void FirstToken(TimeSpan sinceArrival) { }
    void InterToken(TimeSpan sincePrevious) { }
    void Finished(FinishReason reason, TimeSpan sinceArrival, int promptTokens, int completionTokens) { }

    public static readonly IEngineObserver None = new NullObserver();

    private sealed class NullObserver : IEngineObserver { }
}

/// <summary>A snapshot of the scheduler's state for /metrics and /health.</summary>
public sealed record EngineStats(int Running, int Waiting, double KvCacheUsage, long StepsRun);
