using System.Text.Json.Nodes;
using Bento.Runtime.Engine;
using Bento.Runtime.Tokenization;

namespace Bento.Runtime.Server;

/// <summary>
/// What the HTTP layer serves. The server starts listening before the model is loaded, so /health answers during a
/// long load; <see cref="Model"/> is set once loading finished (then /ready turns 200).
/// </summary>
public sealed class ServingState
{
    public required string ModelName { get; init; }
    public required string BentoTag { get; init; }
    public required int MaxModelLen { get; init; }
    /// <summary>Null: /v1 is open (no key was configured).</summary>
    public ApiKeyGuard? ApiKey { get; init; }
    /// <summary>Set once the server was asked to stop: new generation requests get 503 while in-flight ones finish.</summary>
    public bool Draining { get; set; }
    /// <summary>The effective settings with their sources, for /health.</summary>
    public required JsonObject Settings { get; init; }
    public required EngineMetrics Metrics { get; init; }
    public DateTimeOffset Created { get; init; } = DateTimeOffset.UtcNow;

    /// <summary>The memory plan the engine was sized by (set before the model loads).</summary>
    public Bento.Core.Serving.MemoryPlan? Plan { get; set; }

    public LoadedModel? Model { get; set; }
    public Exception? LoadError { get; set; }
}

/// <summary>The parts that exist once the model is loaded.</summary>
public sealed record LoadedModel(LlmEngine Engine, ITextTokenizer Tokenizer, IChatPromptRenderer Chat, Model.RunnerInfo Runner)
{
    /// <summary>generation_config.json's sampling defaults (request fields win).</summary>
    public GenerationDefaults Defaults { get; init; } = GenerationDefaults.None;
}
