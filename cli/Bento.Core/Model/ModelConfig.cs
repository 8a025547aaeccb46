using System.Globalization;
using System.Text.Json;

namespace Bento.Core.Model;

/// <summary>
/// rope_scaling of a Hugging Face config: "linear" (positions divided by <see cref="Factor"/>) or "llama3"
/// (low frequencies divided by <see cref="Factor"/>, high ones kept, a smooth ramp between; Llama 3.1+).
/// </summary>
public sealed record RopeScaling(
    string Type,
    double Factor,
    double LowFreqFactor = 1.0,
    double HighFreqFactor = 4.0,
    int OriginalMaxPositionEmbeddings = 8192);

/// <summary>
/// A Hugging Face <c>config.json</c> read against <see cref="ModelContract"/>: the one parser both <c>bento build</c>
/// and the runtime use, so they cannot judge a model differently. Defaults follow transformers' LlamaConfig. Every
/// error names the file and the key, and says what is expected; a value of the wrong JSON type is such an error too.
/// </summary>
public sealed record ModelConfig
{
    public string Architecture { get; init; } = "LlamaForCausalLM";
    public string ModelType { get; init; } = "llama";
    public int VocabSize { get; init; } = 32000;
    public int HiddenSize { get; init; } = 4096;
    public int IntermediateSize { get; init; } = 11008;
    public int NumHiddenLayers { get; init; } = 32;
    public int NumAttentionHeads { get; init; } = 32;
    public int NumKeyValueHeads { get; init; } = 32;

    /// <summary>head_dim; transformers derives hidden_size / num_attention_heads when absent.</summary>
    public int HeadDim { get; init; } = 128;

    public string HiddenAct { get; init; } = "silu";
    public double RmsNormEps { get; init; } = 1e-6;
    public double RopeTheta { get; init; } = 10000.0;
    public RopeScaling? RopeScaling { get; init; }
    public int MaxPositionEmbeddings { get; init; } = 2048;
    public bool TieWordEmbeddings { get; init; }

    /// <summary>The checkpoint's dtype from torch_dtype (or the newer "dtype"); null when config.json does not say.</summary>
    public ModelDtype? TorchDtype { get; init; }

    /// <summary>Mistral's sliding-window attention; null means full attention.</summary>
    public int? SlidingWindow { get; init; }

    /// <summary>config.json's quantization_config (int8 weights); null for float checkpoints.</summary>
    public WeightQuantization? Quantization { get; init; }

    public int? BosTokenId { get; init; }
    public IReadOnlyList<int> EosTokenIds { get; init; } = [];

    public int KeyValueGroups => NumAttentionHeads / NumKeyValueHeads;

    /// <summary>q/k/v projections have biases (Qwen2); follows from <see cref="Architecture"/>.</summary>
    public bool QkvBias => ModelContract.Find(Architecture)?.QkvBias ?? false;

    /// <summary>Queries and keys get a per-head RMSNorm before RoPE (Qwen3); follows from <see cref="Architecture"/>.</summary>
    public bool QkNorm => ModelContract.Find(Architecture)?.QkNorm ?? false;

    /// <summary>Reads <paramref name="path"/>: a config.json, or a model folder holding one.</summary>
    public static ModelConfig Load(string path)
    {
        var file = Directory.Exists(path) ? Path.Combine(path, "config.json") : path;
        var display = Spec.BentofileParser.DisplayPath(file);
        if (!File.Exists(file))
            throw new BentoException($"{display}: missing; a Hugging Face model folder needs config.json");
        return Parse(IO.InputFile.ReadAllBytes(file, InputLimits.ModelJsonBytes, "config.json"), display);
    }

    public static ModelConfig Parse(string json, string display = "config.json") =>
        Parse(System.Text.Encoding.UTF8.GetBytes(json), display);

    public static ModelConfig Parse(ReadOnlySpan<byte> json, string display = "config.json")
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(json.ToArray(), new JsonDocumentOptions { MaxDepth = 64 }); }
        catch (JsonException e)
        {
            throw new BentoException($"{display}:{(e.LineNumber ?? 0) + 1}:{(e.BytePositionInLine ?? 0) + 1}: invalid JSON: {FirstSentence(e.Message)}");
        }
        using (doc) return FromJson(new ConfigFields(doc.RootElement, display));
    }

    private static ModelConfig FromJson(ConfigFields f)
    {
        var architecture = f.Architecture();
        var supported = ModelContract.Find(architecture)
            ?? throw f.Fail("architectures", $"'{architecture}' is not supported by the BentoBuilder runtime (supported: {ModelContract.SupportedArchitectures})");
        var modelType = f.String("model_type") ?? supported.ModelTypes[0];
        if (!supported.ModelTypes.Contains(modelType))
            throw f.Fail("model_type", $"'{modelType}' does not match architecture {architecture} (expected {string.Join(" or ", supported.ModelTypes)})");
        foreach (var (key, why) in ModelContract.UnsupportedWhenTrue)
            if (f.Bool(key) == true) throw f.Fail(key, $"true is not supported: {why}; only checkpoints with {key}: false can be served");
        var act = f.String("hidden_act") ?? "silu";
        if (!ModelContract.HiddenActivations.Contains(act))
            throw f.Fail("hidden_act", $"'{act}' is not supported (supported: {string.Join(", ", ModelContract.HiddenActivations)})");

        var hidden = f.Dimension("hidden_size", 4096);
        var heads = f.Dimension("num_attention_heads", 32);
        var kvHeads = f.Dimension("num_key_value_heads", heads);
        if (heads % kvHeads != 0)
            throw f.Fail("num_key_value_heads", $"num_attention_heads ({heads}) must be a multiple of num_key_value_heads ({kvHeads})");
        var headDim = f.Int("head_dim") ?? (hidden % heads == 0 ? hidden / heads : 0);
        if (headDim <= 0)
            throw f.Fail("head_dim", $"hidden_size ({hidden}) is not a multiple of num_attention_heads ({heads}); give head_dim");
        f.CheckDimension("head_dim", headDim);
        if (headDim % 2 != 0) throw f.Fail("head_dim", $"{headDim} must be even for rotary embeddings");

        var dtypeKey = f.Has("torch_dtype") ? "torch_dtype" : "dtype";
        var dtypeText = f.String(dtypeKey);
        var dtype = dtypeText is null ? null : ModelDtype.Find(dtypeText)
            ?? throw f.Fail(dtypeKey, $"'{dtypeText}' is not a dtype the runtime computes in (supported: {string.Join(", ", ModelDtype.All)})");

        var rmsNormEps = f.Double("rms_norm_eps") ?? 1e-6;
        if (!(rmsNormEps > 0)) throw f.Fail("rms_norm_eps", $"{rmsNormEps} must be positive");
        var ropeTheta = f.Double("rope_theta") ?? 10000.0;
        if (!(ropeTheta > 1)) throw f.Fail("rope_theta", $"{ropeTheta} must be greater than 1");
        var slidingWindow = f.Int("sliding_window");
        if (slidingWindow is <= 0) throw f.Fail("sliding_window", $"{slidingWindow} must be positive or null");
        // Qwen's window is inert unless use_sliding_window is true (transformers then drops it); when it is true we
        // keep it, and CheckServable holds max_model_len inside it, where full attention is exact on every layer.
        if (supported.SlidingWindowNeedsFlag && f.Bool("use_sliding_window") != true) slidingWindow = null;

        return new ModelConfig
        {
            Architecture = architecture,
            ModelType = modelType,
            VocabSize = f.Dimension("vocab_size", 32000),
            HiddenSize = hidden,
            IntermediateSize = f.Dimension("intermediate_size", 11008),
            NumHiddenLayers = f.Dimension("num_hidden_layers", 32),
            NumAttentionHeads = heads,
            NumKeyValueHeads = kvHeads,
            HeadDim = headDim,
            HiddenAct = act,
            RmsNormEps = rmsNormEps,
            RopeTheta = ropeTheta,
            RopeScaling = f.RopeScaling(),
            MaxPositionEmbeddings = f.Dimension("max_position_embeddings", 2048),
            TieWordEmbeddings = f.Bool("tie_word_embeddings") ?? false,
            TorchDtype = dtype,
            SlidingWindow = slidingWindow,
            Quantization = f.Raw("quantization_config") is { } quantization ? WeightQuantization.Parse(quantization, f.Display) : null,
            BosTokenId = f.Int("bos_token_id"),
            EosTokenIds = f.IntOrInts("eos_token_id"),
        };
    }

    /// <summary>
    /// Checks what <see cref="Parse"/> guarantees on a config built in code (tests, the model generator,
    /// <c>with</c> copies): dimensions within the contract's bounds, whole attention head groups, even head_dim.
    /// </summary>
    public void Validate()
    {
        foreach (var (key, value) in new[]
                 {
                     ("vocab_size", VocabSize), ("hidden_size", HiddenSize), ("intermediate_size", IntermediateSize),
                     ("num_hidden_layers", NumHiddenLayers), ("num_attention_heads", NumAttentionHeads),
                     ("num_key_value_heads", NumKeyValueHeads), ("head_dim", HeadDim), ("max_position_embeddings", MaxPositionEmbeddings),
                 })
            if (value <= 0 || value > ModelContract.DimensionLimits[key])
                throw new BentoException($"config: {key}: {value} is out of range; expected a whole number from 1 to {ModelContract.DimensionLimits[key]}");
        if (NumAttentionHeads % NumKeyValueHeads != 0)
            throw new BentoException($"config: num_key_value_heads: num_attention_heads ({NumAttentionHeads}) must be a multiple of num_key_value_heads ({NumKeyValueHeads})");
        if (HeadDim % 2 != 0) throw new BentoException($"config: head_dim: {HeadDim} must be even for rotary embeddings");
    }

    /// <summary>
    /// Throws when the model cannot serve sequences of <paramref name="maxModelLen"/> tokens exactly: we implement full
    /// attention only, which equals Mistral's sliding-window attention while sequences fit inside the window. Build
    /// checks it against the bento's max_model_len, the runtime against the effective one.
    /// </summary>
    public void CheckServable(int maxModelLen, string where = "max_model_len")
    {
        if (SlidingWindow is { } window && window < maxModelLen)
            throw new BentoException(
                $"{where} is {maxModelLen} but the model's sliding_window (config.json) is {window}: sliding-window attention is not " +
                $"implemented; set max_model_len to at most {window} (full attention is exact within the window)");
    }

    /// <summary>
    /// Rotary inverse frequencies (head_dim / 2 of them), with rope_scaling applied the way transformers'
    /// ROPE_INIT_FUNCTIONS do. Computed in double precision.
    /// </summary>
    public double[] RopeInverseFrequencies()
    {
        var half = HeadDim / 2;
        var inv = new double[half];
        for (var i = 0; i < half; i++)
            inv[i] = 1.0 / Math.Pow(RopeTheta, 2.0 * i / HeadDim);
        switch (RopeScaling)
        {
            case null or { Type: "default" }:
                break;
            case { Type: "linear" } linear:
                for (var i = 0; i < half; i++) inv[i] /= linear.Factor;
                break;
            case { Type: "llama3" } s:
                var lowFreqWavelen = s.OriginalMaxPositionEmbeddings / s.LowFreqFactor;
                var highFreqWavelen = s.OriginalMaxPositionEmbeddings / s.HighFreqFactor;
                for (var i = 0; i < half; i++)
                {
                    var wavelen = 2 * Math.PI / inv[i];
                    if (wavelen < highFreqWavelen) continue;                 // high frequency: unchanged
                    if (wavelen > lowFreqWavelen) { inv[i] /= s.Factor; continue; } // low frequency: scaled
                    var smooth = (s.OriginalMaxPositionEmbeddings / wavelen - s.LowFreqFactor) / (s.HighFreqFactor - s.LowFreqFactor);
                    inv[i] = (1 - smooth) * inv[i] / s.Factor + smooth * inv[i];
                }
                break;
        }
        return inv;
    }

    private static string FirstSentence(string message)
    {
        var cut = message.IndexOf(" Path:", StringComparison.Ordinal);
        return cut > 0 ? message[..cut] : message;
    }

    /// <summary>Typed access to config.json's keys; a present key of the wrong JSON type is an error naming it.</summary>
    private sealed class ConfigFields
    {
        private readonly JsonElement _root;
        private readonly string _display;

        public ConfigFields(JsonElement root, string display)
        {
            if (root.ValueKind != JsonValueKind.Object) throw new BentoException($"{display}: expected a JSON object");
            (_root, _display) = (root, display);
        }

        public BentoException Fail(string key, string message) => new($"{_display}: {key}: {message}");

        public string Display => _display;

        public JsonElement? Raw(string key) => Get(key);

        public bool Has(string key) => _root.TryGetProperty(key, out var v) && v.ValueKind != JsonValueKind.Null;

        private JsonElement? Get(string key) => _root.TryGetProperty(key, out var v) && v.ValueKind != JsonValueKind.Null ? v : null;

        public string Architecture()
        {
            if (Get("architectures") is not { } a)
                throw Fail("architectures", "missing; expected e.g. [\"LlamaForCausalLM\"]");
            if (a.ValueKind != JsonValueKind.Array || a.GetArrayLength() == 0 || a[0].ValueKind != JsonValueKind.String)
                throw Fail("architectures", $"expected a list of architecture names such as [\"LlamaForCausalLM\"], got {Describe(a)}");
            return a[0].GetString()!;
        }

        public string? String(string key) => Get(key) switch
        {
            null => null,
            { ValueKind: JsonValueKind.String } v => v.GetString(),
            var v => throw Fail(key, $"expected a string, got {Describe(v.Value)}"),
        };

        public bool? Bool(string key) => Get(key) switch
        {
            null => null,
            { ValueKind: JsonValueKind.True } => true,
            { ValueKind: JsonValueKind.False } => false,
            var v => throw Fail(key, $"expected true or false, got {Describe(v.Value)}"),
        };

        public double? Double(string key) => Get(key) switch
        {
            null => null,
            { ValueKind: JsonValueKind.Number } v when v.TryGetDouble(out var d) && double.IsFinite(d) => d,
            var v => throw Fail(key, $"expected a number, got {Describe(v.Value)}"),
        };

        public int? Int(string key) => Get(key) switch
        {
            null => null,
            { ValueKind: JsonValueKind.Number } v when v.TryGetInt32(out var n) => n,
            { ValueKind: JsonValueKind.Number } v => throw Fail(key, $"{v.GetRawText()} is not a whole number in range"),
            var v => throw Fail(key, $"expected an integer, got {Describe(v.Value)}"),
        };

        /// <summary>A positive integer within the contract's bound for <paramref name="key"/>.</summary>
        public int Dimension(string key, int fallback)
        {
            var value = Int(key) ?? fallback;
            CheckDimension(key, value);
            return value;
        }

        public void CheckDimension(string key, int value)
        {
            var limit = ModelContract.DimensionLimits[key];
            if (value <= 0 || value > limit)
                throw Fail(key, $"{value.ToString(CultureInfo.InvariantCulture)} is out of range; expected a whole number from 1 to {limit.ToString(CultureInfo.InvariantCulture)}");
        }

        public IReadOnlyList<int> IntOrInts(string key) => Get(key) switch
        {
            null => [],
            { ValueKind: JsonValueKind.Array } a => a.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out var n)
                ? n : throw Fail(key, $"expected token ids, got {Describe(e)}")).ToArray(),
            _ => [Int(key)!.Value],
        };

        public RopeScaling? RopeScaling()
        {
            if (Get("rope_scaling") is not { } e) return null;
            if (e.ValueKind != JsonValueKind.Object) throw Fail("rope_scaling", $"expected an object or null, got {Describe(e)}");
            var type = e.TryGetProperty("rope_type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString()
                : e.TryGetProperty("type", out var t2) && t2.ValueKind == JsonValueKind.String ? t2.GetString() : null;
            if (type is null || !ModelContract.RopeScalingTypes.Contains(type))
                throw Fail("rope_scaling", $"type '{type}' is not supported (supported: {string.Join(", ", ModelContract.RopeScalingTypes)})");
            double D(string key, double fallback) =>
                !e.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null ? fallback
                : v.ValueKind == JsonValueKind.Number && v.TryGetDouble(out var d) && double.IsFinite(d) ? d
                : throw Fail($"rope_scaling.{key}", $"expected a number, got {Describe(v)}");
            var factor = D("factor", 1.0);
            if (type != "default" && !(factor > 0)) throw Fail("rope_scaling.factor", $"{factor} must be positive");
            var scaling = type switch
            {
                "default" => new RopeScaling("default", 1.0),
                "linear" => new RopeScaling("linear", factor),
                _ => new RopeScaling("llama3", factor, D("low_freq_factor", 1.0), D("high_freq_factor", 4.0),
                    (int)Math.Clamp(D("original_max_position_embeddings", 8192), 1, ModelContract.MaxContextLength)),
            };
            if (scaling.Type == "llama3" && !(scaling.HighFreqFactor > scaling.LowFreqFactor && scaling.LowFreqFactor > 0))
                throw Fail("rope_scaling", "llama3 needs high_freq_factor > low_freq_factor > 0");
            return scaling;
        }

        private static string Describe(JsonElement e) => e.ValueKind switch
        {
            JsonValueKind.String => $"the string \"{Truncate(e.GetString()!)}\"",
            JsonValueKind.Number => $"the number {Truncate(e.GetRawText())}",
            JsonValueKind.True or JsonValueKind.False => e.GetRawText(),
            JsonValueKind.Array => "a list",
            JsonValueKind.Object => "an object",
            _ => e.ValueKind.ToString().ToLowerInvariant(),
        };

        private static string Truncate(string s) => s.Length <= 40 ? s : s[..40] + "…";
    }
}
