using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Bento.Core.Model;

/// <summary>
/// A quantization <c>bento build</c> applies (bentofile <c>model: {path: ., quantize: int8}</c>): the one table of
/// what <c>quantize</c> accepts. Weight-only, as vLLM's W8A16: weights become symmetric int8 with float32 scales,
/// activations stay float. The build writes them in <see cref="WeightQuantization.WrittenFormat"/>.
/// </summary>
public sealed record QuantizationScheme(string Name, string Strategy, int? GroupSize, string Summary)
{
    public static readonly QuantizationScheme Int8 = new("int8", WeightQuantization.ChannelStrategy, null,
        "int8 weights, one scale per output channel");

    public static readonly QuantizationScheme Int8Group128 = new("int8-g128", WeightQuantization.GroupStrategy, 128,
        "int8 weights, one scale per 128 input columns of each output channel: a little closer to the original, ~3% larger");

    public static readonly IReadOnlyList<QuantizationScheme> All = [Int8, Int8Group128];

    /// <summary>For error messages: what <c>quantize</c> accepts.</summary>
    public static string Choices => $"supported: {string.Join("; ", All.Select(s => $"{s.Name} ({s.Summary})"))}";

    public static QuantizationScheme? Find(string text) =>
        All.FirstOrDefault(s => s.Name.Equals(text.Trim(), StringComparison.OrdinalIgnoreCase));

    /// <summary>The config.json <c>quantization_config</c> a build with this scheme writes.</summary>
    public WeightQuantization ToConfig() =>
        new(WeightQuantization.WrittenFormat, Strategy, GroupSize, [WeightQuantization.LinearTarget, WeightQuantization.EmbeddingTarget], []);

    public override string ToString() => Name;
}

/// <summary>
/// Int8 weight quantization as a checkpoint's config.json declares it: the <c>quantization_config</c> of
/// compressed-tensors (vLLM's and llm-compressor's format; Hugging Face repositories of "W8A16" models, e.g.
/// RedHatAI/...-quantized.w8a16, carry it). The runtime loads its 8-bit, symmetric, weight-only schemes with
/// per-channel or per-group scales, in the "pack-quantized" layout (int8 values + 128 in int32 words:
/// <c>X.weight_packed</c> I32 [out, in/4], <c>X.weight_scale</c> [out, groups], <c>X.weight_shape</c> [2]) and the
/// "int-quantized"/"naive-quantized" one (<c>X.weight</c> I8 [out, in], <c>X.weight_scale</c>). Anything else
/// (4-bit, asymmetric, activation or KV-cache quantization, GPTQ/AWQ/bitsandbytes/fp8) is refused naming the key.
/// </summary>
/// <param name="Targets">compressed-tensors targets: module classes ("Linear", "Embedding"), module names, or
/// "re:" regular expressions matched from the start of a module name.</param>
/// <param name="Ignore">Modules left unquantized, in the same forms.</param>
public sealed record WeightQuantization(string Format, string Strategy, int? GroupSize, IReadOnlyList<string> Targets, IReadOnlyList<string> Ignore)
{
    public const string Method = "compressed-tensors";
    public const string PackedFormat = "pack-quantized";
    public const string IntFormat = "int-quantized";
    public const string NaiveFormat = "naive-quantized";
    public const string ChannelStrategy = "channel";
    public const string GroupStrategy = "group";
    public const string LinearTarget = "Linear";
    public const string EmbeddingTarget = "Embedding";
    public const int Bits = 8;

    /// <summary>What <c>bento build</c> writes: llm-compressor's layout for 8-bit weight-only (W8A16) models.</summary>
    public const string WrittenFormat = PackedFormat;

    public static readonly IReadOnlyList<string> Formats = [PackedFormat, IntFormat, NaiveFormat];

    public bool Packed => Format == PackedFormat;

    /// <summary>Scale groups of a row of <paramref name="columns"/> values.</summary>
    public long Groups(long columns) => Strategy == GroupStrategy ? columns / GroupSize!.Value : 1;

    /// <summary>"int8 per-channel (compressed-tensors pack-quantized)".</summary>
    public string Describe() =>
        $"int8 {(Strategy == GroupStrategy ? $"group {GroupSize}" : "per-channel")} ({Method} {Format})";

    /// <summary>Whether the module (a tensor name without ".weight") is quantized: targeted and not ignored, under its
    /// layout name or any name a checkpoint stores it under (<paramref name="storedNames"/>: a multimodal checkpoint's
    /// language_model.model.layers.0..., which its config's lists may name).</summary>
    public bool Quantizes(string module, bool isEmbedding, IEnumerable<string>? storedNames = null)
    {
        string[] names = [module, .. storedNames ?? []];
        return Targets.Any(t => names.Any(n => Matches(t, n, isEmbedding))) && !Ignore.Any(t => names.Any(n => Matches(t, n, isEmbedding)));
    }

    private static bool Matches(string target, string module, bool isEmbedding)
    {
        if (target == LinearTarget) return !isEmbedding;
        if (target == EmbeddingTarget) return isEmbedding;
        if (target.StartsWith("re:", StringComparison.Ordinal)) return Pattern(target).IsMatch(module);
        return target == module;
    }

    /// <summary>
    /// A "re:" target as Python's re.match reads it (anchored at the start only), compiled without backtracking so
    /// that a hostile pattern costs linear time per module name, never minutes.
    /// </summary>
    private static Regex Pattern(string target) => Patterns.GetOrAdd(target, t =>
        new Regex("^(?:" + t[3..] + ")", RegexOptions.NonBacktracking | RegexOptions.CultureInvariant));

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, Regex> Patterns = new(StringComparer.Ordinal);

    /// <summary>The <c>quantization_config</c> object, as compressed-tensors writes it.</summary>
    public JsonObject ToJson() => new()
    {
        ["quant_method"] = Method,
        ["format"] = Format,
        ["quantization_status"] = "compressed",
        ["config_groups"] = new JsonObject
        {
            ["group_0"] = new JsonObject
            {
                ["targets"] = new JsonArray(Targets.Select(t => (JsonNode)t).ToArray()),
                ["weights"] = new JsonObject
                {
                    ["num_bits"] = Bits,
                    ["type"] = "int",
                    ["symmetric"] = true,
                    ["strategy"] = Strategy,
                    ["group_size"] = GroupSize,
                    ["dynamic"] = false,
                    ["actorder"] = null,
                    ["observer"] = "minmax",
                },
                ["input_activations"] = null,
                ["output_activations"] = null,
            },
        },
        ["ignore"] = new JsonArray(Ignore.Select(t => (JsonNode)t).ToArray()),
        ["kv_cache_scheme"] = null,
    };

    private const string Supported =
        "the runtime serves compressed-tensors int8 weight-only (W8A16) checkpoints: num_bits 8, type int, symmetric, " +
        "strategy channel or group, no activation quantization; or build the unquantized checkpoint with 'model: {path: ., quantize: int8}'";

    /// <summary>Reads config.json's <c>quantization_config</c>; errors name <paramref name="display"/> and the key.</summary>
    public static WeightQuantization Parse(JsonElement config, string display)
    {
        const string root = "quantization_config";
        BentoException Fail(string key, string message) => new($"{display}: {key}: {message}");
        if (config.ValueKind != JsonValueKind.Object) throw Fail(root, "expected an object");

        var method = OptionalString(config, "quant_method", root, Fail);
        if (method != Method)
            throw Fail($"{root}.quant_method", $"'{method}' is not supported; {Supported}");
        var format = OptionalString(config, "format", root, Fail);
        if (format is null || !Formats.Contains(format))
            throw Fail($"{root}.format", $"'{format}' is not supported (supported: {string.Join(", ", Formats)}); {Supported}");
        if (OptionalString(config, "quantization_status", root, Fail) is { } status && status != "compressed")
            throw Fail($"{root}.quantization_status", $"'{status}': the weights are not stored compressed; only 'compressed' checkpoints are served");
        foreach (var key in new[] { "kv_cache_scheme", "sparsity_config", "transform_config" })
            if (config.TryGetProperty(key, out var v) && v.ValueKind != JsonValueKind.Null && !(v.ValueKind == JsonValueKind.Object && !v.EnumerateObject().Any()))
                throw Fail($"{root}.{key}", $"is set; {key.Replace('_', ' ')} is not supported ({Supported})");

        if (!config.TryGetProperty("config_groups", out var groups) || groups.ValueKind != JsonValueKind.Object || !groups.EnumerateObject().Any())
            throw Fail($"{root}.config_groups", "expected an object with at least one group");
        var targets = new List<string>();
        (string Strategy, int? GroupSize)? scheme = null;
        foreach (var group in groups.EnumerateObject())
        {
            var path = $"{root}.config_groups.{group.Name}";
            if (group.Value.ValueKind != JsonValueKind.Object) throw Fail(path, "expected an object");
            targets.AddRange(Strings(group.Value, "targets", path, Fail) ?? throw Fail($"{path}.targets", "missing; expected a list such as [\"Linear\"]"));
            foreach (var key in new[] { "input_activations", "output_activations" })
                if (group.Value.TryGetProperty(key, out var a) && a.ValueKind != JsonValueKind.Null)
                    throw Fail($"{path}.{key}", $"activation quantization is not supported; {Supported}");
            if (!group.Value.TryGetProperty("weights", out var w) || w.ValueKind != JsonValueKind.Object)
                throw Fail($"{path}.weights", "missing; expected the weights' quantization arguments");
            var args = ReadWeights(w, $"{path}.weights", Fail);
            if (scheme is { } first && first != args)
                throw Fail($"{path}.weights", $"differs from an earlier group ({first.Strategy}{(first.GroupSize is { } g ? $" {g}" : "")}); one scheme for all layers is supported");
            scheme = args;
        }
        var ignore = Strings(config, "ignore", root, Fail) ?? [];
        foreach (var pattern in targets.Concat(ignore).Where(p => p.StartsWith("re:", StringComparison.Ordinal)))
        {
            try { _ = Pattern(pattern); }
            catch (Exception e) when (e is ArgumentException or NotSupportedException)
            {
                throw Fail(root, $"'{pattern}' is not a regular expression the runtime supports ({e.Message})");
            }
        }
        return new WeightQuantization(format, scheme!.Value.Strategy, scheme.Value.GroupSize, targets.Distinct().ToList(), ignore);
    }

    private static (string Strategy, int? GroupSize) ReadWeights(JsonElement w, string path, Func<string, string, BentoException> fail)
    {
        int? Int(string key) => !w.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null ? null
            : v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var n) ? n
            : throw fail($"{path}.{key}", $"expected an integer, got {v.ValueKind.ToString().ToLowerInvariant()}");
        bool? Bool(string key) => !w.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null ? null
            : v.ValueKind is JsonValueKind.True or JsonValueKind.False ? v.GetBoolean()
            : throw fail($"{path}.{key}", $"expected true or false, got {v.ValueKind.ToString().ToLowerInvariant()}");

        var bits = Int("num_bits");
        if (bits != Bits) throw fail($"{path}.num_bits", $"{bits?.ToString() ?? "missing"} is not supported (8 only); {Supported}");
        var type = OptionalString(w, "type", path, fail) ?? "int";
        if (type != "int") throw fail($"{path}.type", $"'{type}' is not supported (int only); {Supported}");
        if (Bool("symmetric") == false) throw fail($"{path}.symmetric", $"asymmetric weights are not supported; {Supported}");
        if (Bool("dynamic") == true) throw fail($"{path}.dynamic", $"dynamic weight quantization is not supported; {Supported}");
        if (w.TryGetProperty("actorder", out var order) && order.ValueKind is not (JsonValueKind.Null or JsonValueKind.False))
            throw fail($"{path}.actorder", "activation-ordered groups (weight_g_idx) are not supported");
        if (w.TryGetProperty("block_structure", out var blocks) && blocks.ValueKind != JsonValueKind.Null)
            throw fail($"{path}.block_structure", $"block scales are not supported; {Supported}");
        var strategy = OptionalString(w, "strategy", path, fail);
        var groupSize = Int("group_size");
        return strategy switch
        {
            ChannelStrategy => (ChannelStrategy, null),
            GroupStrategy when groupSize is > 0 => (GroupStrategy, groupSize),
            GroupStrategy => throw fail($"{path}.group_size", $"{groupSize?.ToString() ?? "missing"}; the group strategy needs a positive group_size"),
            _ => throw fail($"{path}.strategy", $"'{strategy}' is not supported (supported: {ChannelStrategy}, {GroupStrategy}); {Supported}"),
        };
    }

    private static string? OptionalString(JsonElement e, string key, string path, Func<string, string, BentoException> fail) =>
        !e.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null ? null
        : v.ValueKind == JsonValueKind.String ? v.GetString()
        : throw fail($"{path}.{key}", $"expected a string, got {v.ValueKind.ToString().ToLowerInvariant()}");

    private static List<string>? Strings(JsonElement e, string key, string path, Func<string, string, BentoException> fail)
    {
        if (!e.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind != JsonValueKind.Array || v.EnumerateArray().Any(x => x.ValueKind != JsonValueKind.String))
            throw fail($"{path}.{key}", "expected a list of strings");
        return v.EnumerateArray().Select(x => x.GetString()!).ToList();
    }
}
