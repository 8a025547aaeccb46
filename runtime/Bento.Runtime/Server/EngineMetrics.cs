using Bento.Runtime.Engine;
using Prometheus;

namespace Bento.Runtime.Server;

/// <summary>
/// vLLM's metrics, so Grafana dashboards built for vLLM work unchanged. prometheus-net refuses ':' in names, so they
/// are registered as <c>vllm_*</c> in a private registry and renamed to <c>vllm:*</c> on export
/// (<see cref="ExportAsync"/>). Every series carries <c>model_name</c>.
/// </summary>
public sealed class EngineMetrics : IEngineObserver
{
    private const string Prefix = "vllm_";
    private static readonly double[] LatencyBuckets = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0];
    private static readonly double[] TokenBuckets = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000];

    private readonly CollectorRegistry _registry = Metrics.NewCustomRegistry();
    private readonly Gauge.Child _running, _waiting, _kvUsage;
    private readonly Counter.Child _promptTokens, _generationTokens, _prefixQueries, _prefixHits, _preemptions;
    private readonly Counter _success;
    private readonly Histogram.Child _ttft, _interToken, _e2e, _promptHistogram, _generationHistogram;
    private readonly string _model;

    public EngineMetrics(string modelName)
    {
        _model = modelName;
        var factory = Metrics.WithCustomRegistry(_registry);
        string[] labels = ["model_name"];
        _running = factory.CreateGauge(Prefix + "num_requests_running", "Number of requests currently running on the engine.", labels).WithLabels(modelName);
        _waiting = factory.CreateGauge(Prefix + "num_requests_waiting", "Number of requests waiting to be processed.", labels).WithLabels(modelName);
        _kvUsage = factory.CreateGauge(Prefix + "kv_cache_usage_perc", "KV-cache usage: the fraction of KV-cache blocks in use by requests. 1 means 100 percent usage.", labels).WithLabels(modelName);
        // Counter names carry _total themselves (prometheus-net 8 does not add it), as vLLM's do.
        _promptTokens = factory.CreateCounter(Prefix + "prompt_tokens_total", "Number of prefill tokens processed.", labels).WithLabels(modelName);
        _generationTokens = factory.CreateCounter(Prefix + "generation_tokens_total", "Number of generation tokens processed.", labels).WithLabels(modelName);
        _prefixQueries = factory.CreateCounter(Prefix + "prefix_cache_queries_total", "Prefix cache queries, in terms of number of queried tokens.", labels).WithLabels(modelName);
        _prefixHits = factory.CreateCounter(Prefix + "prefix_cache_hits_total", "Prefix cache hits, in terms of number of cached tokens.", labels).WithLabels(modelName);
        _preemptions = factory.CreateCounter(Prefix + "num_preemptions_total", "Cumulative number of preemption from the engine.", labels).WithLabels(modelName);
        _success = factory.CreateCounter(Prefix + "request_success_total", "Count of successfully processed requests.", ["model_name", "finished_reason"]);
        _ttft = factory.CreateHistogram(Prefix + "time_to_first_token_seconds", "Histogram of time to first token in seconds.", new HistogramConfiguration { LabelNames = labels, Buckets = LatencyBuckets }).WithLabels(modelName);
        _interToken = factory.CreateHistogram(Prefix + "inter_token_latency_seconds", "Histogram of inter-token latency in seconds.", new HistogramConfiguration { LabelNames = labels, Buckets = LatencyBuckets }).WithLabels(modelName);
        _e2e = factory.CreateHistogram(Prefix + "e2e_request_latency_seconds", "Histogram of end to end request latency in seconds.", new HistogramConfiguration { LabelNames = labels, Buckets = LatencyBuckets }).WithLabels(modelName);
        _promptHistogram = factory.CreateHistogram(Prefix + "request_prompt_tokens", "Number of prefill tokens processed.", new HistogramConfiguration { LabelNames = labels, Buckets = TokenBuckets }).WithLabels(modelName);
        _generationHistogram = factory.CreateHistogram(Prefix + "request_generation_tokens", "Number of generation tokens processed.", new HistogramConfiguration { LabelNames = labels, Buckets = TokenBuckets }).WithLabels(modelName);
    }

    public void PromptProcessed(int tokens) => _promptTokens.Inc(tokens);
    public void TokenGenerated() => _generationTokens.Inc();
    public void FirstToken(TimeSpan sinceArrival) => _ttft.Observe(sinceArrival.TotalSeconds);
    public void InterToken(TimeSpan sincePrevious) => _interToken.Observe(sincePrevious.TotalSeconds);

    public void PrefixCacheQueried(int queried, int hits)
    {
        _prefixQueries.Inc(queried);
        _prefixHits.Inc(hits);
    }

    public void Preempted() => _preemptions.Inc();

    public void Finished(FinishReason reason, TimeSpan sinceArrival, int promptTokens, int completionTokens)
    {
        if (reason == FinishReason.Abort) return;
        _success.WithLabels(_model, reason == FinishReason.Stop ? "stop" : "length").Inc();
        _e2e.Observe(sinceArrival.TotalSeconds);
        _promptHistogram.Observe(promptTokens);
        _generationHistogram.Observe(completionTokens);
    }

    /// <summary>Prometheus text format with vLLM's "vllm:" names; gauges are refreshed from the engine first.</summary>
    public async Task ExportAsync(EngineStats stats, Stream destination, CancellationToken ct)
    {
        _running.Set(stats.Running);
        _waiting.Set(stats.Waiting);
        _kvUsage.Set(stats.KvCacheUsage);
        using var buffer = new MemoryStream();
        await _registry.CollectAndExportAsTextAsync(buffer, ct);
        buffer.Position = 0;
        using var reader = new StreamReader(buffer);
        await using var writer = new StreamWriter(destination, leaveOpen: true) { NewLine = "\n" };
        while (await reader.ReadLineAsync(ct) is { } line)
            await writer.WriteLineAsync(Rename(line));
    }

    private static string Rename(string line)
    {
        if (line.StartsWith(Prefix, StringComparison.Ordinal)) return "vllm:" + line[Prefix.Length..];
        foreach (var comment in new[] { "# HELP ", "# TYPE " })
            if (line.StartsWith(comment + Prefix, StringComparison.Ordinal))
                return comment + "vllm:" + line[(comment.Length + Prefix.Length)..];
        return line;
    }
}
