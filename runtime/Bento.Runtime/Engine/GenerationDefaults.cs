using System.Text.Json;
using System.Text.Json.Nodes;

namespace Bento.Runtime.Engine;

/// <summary>
/// Sampling defaults from the model folder's generation_config.json, applied as vLLM's <c>--generation-config auto</c>
/// (its default) does: temperature, top_p, top_k, repetition_penalty and max_new_tokens (a cap on the default
/// max_tokens) replace the built-in defaults; a field the request sets always wins. Other keys are ignored.
/// </summary>
public sealed record GenerationDefaults
{
    public static readonly GenerationDefaults None = new();

    public double? Temperature { get; init; }
    public double? TopP { get; init; }
    public int? TopK { get; init; }
    public double? RepetitionPenalty { get; init; }
    public int? MaxNewTokens { get; init; }

    public bool IsEmpty => this == None;

    /// <summary>Reads generation_config.json from <paramref name="modelDirectory"/>; values of the wrong type or out of
    /// range are ignored, as they would be refused in a request.</summary>
    public static GenerationDefaults Load(string modelDirectory)
    {
        var path = Path.Combine(modelDirectory, "generation_config.json");
        if (!File.Exists(path)) return None;
        JsonObject? config;
        try { config = JsonNode.Parse(File.ReadAllText(path)) as JsonObject; }
        catch (JsonException) { return None; }
        return config is null ? None : FromJson(config);
    }

    public static GenerationDefaults FromJson(JsonObject config) => new()
    {
        Temperature = Number(config, "temperature") is >= 0 and <= 2 and var t ? t : null,
        TopP = Number(config, "top_p") is > 0 and <= 1 and var p ? p : null,
        TopK = Number(config, "top_k") is { } k && k == Math.Floor(k) && k is >= -1 and < int.MaxValue ? (int)k : null,
        RepetitionPenalty = Number(config, "repetition_penalty") is > 0 and <= 2 and var r ? r : null,
        MaxNewTokens = Number(config, "max_new_tokens") is { } m && m == Math.Floor(m) && m is >= 1 and < int.MaxValue ? (int)m : null,
    };

    private static double? Number(JsonObject config, string key) =>
        config[key] is JsonValue v && v.GetValueKind() == JsonValueKind.Number ? double.Parse(v.ToJsonString(), System.Globalization.CultureInfo.InvariantCulture) : null;

    /// <summary>For the start-up log: what the model folder set.</summary>
    public override string ToString() =>
        IsEmpty ? "none" : string.Join(", ", new[] { ("temperature", Temperature), ("top_p", TopP), ("top_k", (double?)TopK), ("repetition_penalty", RepetitionPenalty), ("max_new_tokens", (double?)MaxNewTokens) }
            .Where(x => x.Item2 is not null).Select(x => $"{x.Item1}={x.Item2!.Value.ToString(System.Globalization.CultureInfo.InvariantCulture)}"));
}
