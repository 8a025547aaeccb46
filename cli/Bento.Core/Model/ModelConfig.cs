using System.Globalization;
using System.Text.Json;

namespace Bento.Core.Model;

/// <summary>
/// rope_scaling of a Hugging Face config, as transformers' ROPE_INIT_FUNCTIONS read it:
/// <list type="bullet">
/// <item>"linear": positions divided by <see cref="Factor"/> (every frequency divided by it).</item>
/// <item>"dynamic" (dynamic NTK): no change up to <see cref="OriginalMaxPositionEmbeddings"/>; beyond it transformers
/// re-derives the base from the current length, which a KV cache cannot follow, so serving stops there.</item>
/// <item>"llama3" (Llama 3.1+): low frequencies divided by <see cref="Factor"/>, high ones kept, a smooth ramp between.</item>
/// <item>"longrope" ("su" in older Phi-3 configs): each frequency divided by <see cref="ShortFactor"/>[i], or by
/// <see cref="LongFactor"/>[i] when the context served is longer than <see cref="OriginalMaxPositionEmbeddings"/>;
/// cos and sin are multiplied by <see cref="AttentionFactor"/>.</item>
/// </list>
/// </summary>
public sealed record RopeScaling(
    string Type,
    double Factor,
    double LowFreqFactor = 1.0,
    double HighFreqFactor = 4.0,
    int OriginalMaxPositionEmbeddings = 8192,
    IReadOnlyList<double>? ShortFactor = null,
    IReadOnlyList<double>? LongFactor = null,
    double AttentionFactor = 1.0);

/// <summary>
/// How one layer attends: <paramref name="Window"/> keys back (a query at position i sees keys j with i - j &lt;
/// Window; null: every earlier key), scores multiplied by <paramref name="Scale"/>, then soft-capped to
/// cap * tanh(score / cap) when <paramref name="LogitSoftcap"/> is set (Gemma 2), and rotary angles from the local
/// table when <paramref name="LocalRope"/> (Gemma 3's sliding layers).
/// </summary>
public sealed record LayerAttention(int? Window, double Scale, double? LogitSoftcap, bool LocalRope);

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

    /// <summary>The MLP's gate activation: silu (SwiGLU) or, for Gemma, gelu_pytorch_tanh (GeGLU).</summary>
    public string HiddenAct { get; init; } = "silu";
    public double RmsNormEps { get; init; } = 1e-6;
    public double RopeTheta { get; init; } = 10000.0;
    public RopeScaling? RopeScaling { get; init; }
    public int MaxPositionEmbeddings { get; init; } = 2048;
    public bool TieWordEmbeddings { get; init; }

    /// <summary>The checkpoint's dtype from torch_dtype (or the newer "dtype"); null when config.json does not say.</summary>
    public ModelDtype? TorchDtype { get; init; }

    /// <summary>The sliding-window layers' window (Mistral, Phi-3, Gemma, Qwen with use_sliding_window); null means
    /// full attention everywhere. Which layers slide: <see cref="IsSlidingLayer"/>.</summary>
    public int? SlidingWindow { get; init; }

    /// <summary>config.json's quantization_config (int8 weights); null for float checkpoints.</summary>
    public WeightQuantization? Quantization { get; init; }
    /// <summary>Gemma: every sliding_window_pattern-th layer attends globally (Gemma 2: 2, Gemma 3: 6).</summary>
    public int SlidingWindowPattern { get; init; }

    /// <summary>Qwen: layers from this one on use the window (max_window_layers).</summary>
    public int MaxWindowLayers { get; init; } = 28;

    /// <summary>config.json's layer_types (true: "sliding_attention"), when it spells them out; overrides the rules above.</summary>
    public IReadOnlyList<bool>? SlidingLayerTypes { get; init; }

    /// <summary>Phi-4-mini rotates only the first head_dim x partial_rotary_factor dimensions of each head.</summary>
    public double PartialRotaryFactor { get; init; } = 1.0;

    /// <summary>Phi-3's top-level original_max_position_embeddings (LongRoPE's pretraining length).</summary>
    public int? OriginalMaxPositionEmbeddings { get; init; }

    /// <summary>Gemma: scores are scaled by query_pre_attn_scalar^-0.5 instead of head_dim^-0.5.</summary>
    public double? QueryPreAttnScalar { get; init; }

    /// <summary>Gemma 2: attention scores become cap * tanh(score / cap) (attn_logit_softcapping).</summary>
    public double? AttnLogitSoftcapping { get; init; }

    /// <summary>Gemma 2: logits become cap * tanh(logit / cap) (final_logit_softcapping).</summary>
    public double? FinalLogitSoftcapping { get; init; }

    /// <summary>Gemma 3: the RoPE base of sliding-window layers (rope_local_base_freq, no rope_scaling).</summary>
    public double? RopeLocalBaseFreq { get; init; }

    public int? BosTokenId { get; init; }
    public IReadOnlyList<int> EosTokenIds { get; init; } = [];

    public int KeyValueGroups => NumAttentionHeads / NumKeyValueHeads;

    /// <summary>The family's differences from Llama (<see cref="ModelContract.Architectures"/>); Llama's for an unknown name.</summary>
    public ModelContract.Architecture Family => ModelContract.Find(Architecture) ?? ModelContract.Architectures[0];

    /// <summary>q/k/v projections have biases (Qwen2); follows from <see cref="Architecture"/>.</summary>
    public bool QkvBias => Family.QkvBias;

    /// <summary>Queries and keys get a per-head RMSNorm before RoPE (Qwen3, Gemma 3); follows from <see cref="Architecture"/>.</summary>
    public bool QkNorm => Family.QkNorm;

    /// <summary>qkv_proj and gate_up_proj instead of separate matrices (Phi-3).</summary>
    public bool FusedProjections => Family.FusedProjections;

    /// <summary>Gemma's (1 + w) norms, scaled embeddings and post-attention / pre- and post-feed-forward norms.</summary>
    public bool GemmaBlock => Family.GemmaBlock;

    /// <summary>Dimensions of each head that RoPE rotates (the first ones; the rest pass through).</summary>
    public int RotaryDim => (int)(HeadDim * PartialRotaryFactor);

    /// <summary>The factor scores are multiplied by: query_pre_attn_scalar^-0.5 (Gemma), else head_dim^-0.5.</summary>
    public double AttentionScale => 1.0 / Math.Sqrt(QueryPreAttnScalar ?? HeadDim);

    /// <summary>Whether <paramref name="layer"/> is a sliding-window ("local") layer by the family's rule or config.json's
    /// layer_types; it only gets a window when <see cref="SlidingWindow"/> is set.</summary>
    public bool IsSlidingLayer(int layer) => SlidingLayerTypes is { } types ? types[layer] : Family.Windows switch
    {
        ModelContract.WindowedLayers.FromMaxWindowLayers => layer >= MaxWindowLayers,
        ModelContract.WindowedLayers.AllButEveryNth => (layer + 1) % Math.Max(1, SlidingWindowPattern) != 0,
        _ => true,
    };

    /// <summary>How <paramref name="layer"/> attends (window, score scale, soft-cap, which RoPE table).</summary>
    public LayerAttention Attention(int layer)
    {
        var sliding = IsSlidingLayer(layer);
        return new LayerAttention(sliding ? SlidingWindow : null, AttentionScale, AttnLogitSoftcapping, sliding && RopeLocalBaseFreq is not null);
    }

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
            ?? throw f.Fail("architectures", $"'{architecture}' is not supported by the BentoBuilder runtime " +
                (ModelContract.KnownUnsupported.TryGetValue(architecture, out var why) ? $"({why}; " : "(") + $"supported: {ModelContract.SupportedArchitectures})");
        var modelType = f.String("model_type") ?? supported.ModelTypes[0];
        if (!supported.ModelTypes.Contains(modelType))
            throw f.Fail("model_type", $"'{modelType}' does not match architecture {architecture} (expected {string.Join(" or ", supported.ModelTypes)})");
        if (supported.TextConfigKey is { } textKey) f = f.Nested(textKey, architecture);
        foreach (var (key, reason) in ModelContract.UnsupportedWhenTrue)
            if (f.Bool(key) == true) throw f.Fail(key, $"true is not supported: {reason}; only checkpoints with {key}: false can be served");
        // Gemma's configs name the activation hidden_activation (Gemma 2 carries both keys); the rest hidden_act.
        var actKey = supported.GemmaBlock && f.Has("hidden_activation") ? "hidden_activation" : "hidden_act";
        var act = f.String(actKey) ?? supported.Activation;
        if (act != supported.Activation)
            throw f.Fail(actKey, $"'{act}' is not supported for {architecture} (supported: {supported.Activation})");

        // The family's default where it has one (Gemma3TextConfig's), else Llama's or the derived value.
        int Default(string key, int otherwise) => supported.DimensionDefaults.GetValueOrDefault(key, otherwise);
        var hidden = f.Dimension("hidden_size", Default("hidden_size", 4096));
        var heads = f.Dimension("num_attention_heads", Default("num_attention_heads", 32));
        var kvHeads = f.Dimension("num_key_value_heads", Default("num_key_value_heads", heads));
        if (heads % kvHeads != 0)
            throw f.Fail("num_key_value_heads", $"num_attention_heads ({heads}) must be a multiple of num_key_value_heads ({kvHeads})");
        var headDim = f.Int("head_dim") ?? Default("head_dim", hidden % heads == 0 ? hidden / heads : 0);
        if (headDim <= 0)
            throw f.Fail("head_dim", $"hidden_size ({hidden}) is not a multiple of num_attention_heads ({heads}); give head_dim");
        f.CheckDimension("head_dim", headDim);
        if (headDim % 2 != 0) throw f.Fail("head_dim", $"{headDim} must be even for rotary embeddings");
        var partialRotary = f.Double("partial_rotary_factor") ?? 1.0;
        var rotaryDim = (int)(headDim * partialRotary);
        if (!(partialRotary > 0 && partialRotary <= 1) || rotaryDim < 2 || rotaryDim % 2 != 0)
            throw f.Fail("partial_rotary_factor", $"{partialRotary} must be in (0, 1] and give an even number of rotated dimensions (head_dim {headDim} x {partialRotary} = {headDim * partialRotary})");
        var layers = f.Dimension("num_hidden_layers", Default("num_hidden_layers", 32));
        var maxPositions = f.Dimension("max_position_embeddings", Default("max_position_embeddings", 2048));

        var dtypeKey = f.Has("torch_dtype") ? "torch_dtype" : "dtype";
        var dtypeText = f.String(dtypeKey);
        var dtype = dtypeText is null ? null : ModelDtype.Find(dtypeText)
            ?? throw f.Fail(dtypeKey, $"'{dtypeText}' is not a dtype the runtime computes in (supported: {string.Join(", ", ModelDtype.All)})");

        var rmsNormEps = f.Double("rms_norm_eps") ?? 1e-6;
        if (!(rmsNormEps > 0)) throw f.Fail("rms_norm_eps", $"{rmsNormEps} must be positive");
        var ropeTheta = f.Double("rope_theta") ?? (supported.LocalRopeBase ? 1_000_000.0 : 10000.0);
        if (!(ropeTheta > 1)) throw f.Fail("rope_theta", $"{ropeTheta} must be greater than 1");
        double? localRopeBase = null;
        if (supported.LocalRopeBase)
        {
            localRopeBase = f.Double("rope_local_base_freq") ?? 10000.0;
            if (!(localRopeBase > 1)) throw f.Fail("rope_local_base_freq", $"{localRopeBase} must be greater than 1");
        }

        var slidingWindow = f.Present("sliding_window") ? f.Int("sliding_window") : supported.DefaultSlidingWindow;
        if (slidingWindow is <= 0) throw f.Fail("sliding_window", $"{slidingWindow} must be positive or null");
        // Qwen's window is inert unless use_sliding_window is true (transformers then drops it).
        if (supported.SlidingWindowNeedsFlag && f.Bool("use_sliding_window") != true) slidingWindow = null;
        var pattern = f.Int("sliding_window_pattern") ?? supported.DefaultWindowPattern;
        if (supported.Windows == ModelContract.WindowedLayers.AllButEveryNth && pattern < 1)
            throw f.Fail("sliding_window_pattern", $"{pattern} must be at least 1");
        var maxWindowLayers = f.Int("max_window_layers") ?? 28;
        if (maxWindowLayers < 0) throw f.Fail("max_window_layers", $"{maxWindowLayers} must not be negative");

        var originalMax = f.Int("original_max_position_embeddings");
        if (originalMax is <= 0) throw f.Fail("original_max_position_embeddings", $"{originalMax} must be positive");
        var ropeScaling = f.RopeScaling(maxPositions, originalMax, rotaryDim);

        return new ModelConfig
        {
            Architecture = architecture,
            ModelType = modelType,
            VocabSize = f.Dimension("vocab_size", Default("vocab_size", 32000)),
            HiddenSize = hidden,
            IntermediateSize = f.Dimension("intermediate_size", Default("intermediate_size", 11008)),
            NumHiddenLayers = layers,
            NumAttentionHeads = heads,
            NumKeyValueHeads = kvHeads,
            HeadDim = headDim,
            HiddenAct = act,
            RmsNormEps = rmsNormEps,
            RopeTheta = ropeTheta,
            RopeScaling = ropeScaling,
            MaxPositionEmbeddings = maxPositions,
            TieWordEmbeddings = f.Bool("tie_word_embeddings") ?? supported.TiedByDefault,
            TorchDtype = dtype,
            SlidingWindow = slidingWindow,
            Quantization = f.Raw("quantization_config") is { } quantization ? WeightQuantization.Parse(quantization, f.Display) : null,
            SlidingWindowPattern = pattern,
            MaxWindowLayers = maxWindowLayers,
            SlidingLayerTypes = f.LayerTypes(layers),
            PartialRotaryFactor = partialRotary,
            OriginalMaxPositionEmbeddings = originalMax,
            QueryPreAttnScalar = supported.GemmaBlock ? f.Positive("query_pre_attn_scalar") ?? 256 : null,
            AttnLogitSoftcapping = supported.GemmaBlock ? f.OptionalPositive("attn_logit_softcapping", supported.DefaultAttnLogitSoftcapping) : null,
            FinalLogitSoftcapping = supported.GemmaBlock ? f.OptionalPositive("final_logit_softcapping", supported.DefaultFinalLogitSoftcapping) : null,
            RopeLocalBaseFreq = localRopeBase,
            BosTokenId = f.Int("bos_token_id") ?? supported.DefaultBosTokenId,
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
        if (RotaryDim < 2 || RotaryDim % 2 != 0 || RotaryDim > HeadDim)
            throw new BentoException($"config: partial_rotary_factor: {PartialRotaryFactor} gives {RotaryDim} rotated dimensions of {HeadDim}; expected an even number from 2 to head_dim");
        if (SlidingLayerTypes is { } types && types.Count != NumHiddenLayers)
            throw new BentoException($"config: layer_types: {types.Count} entries for {NumHiddenLayers} layers");
        if (RopeScaling is { ShortFactor: { } shortFactor, LongFactor: { } longFactor } && (shortFactor.Count != RotaryDim / 2 || longFactor.Count != RotaryDim / 2))
            throw new BentoException($"config: rope_scaling: short_factor and long_factor need {RotaryDim / 2} values (rotated dimensions / 2)");
        if (RopeLocalBaseFreq is <= 1) throw new BentoException($"config: rope_local_base_freq: {RopeLocalBaseFreq} must be greater than 1");
    }

    /// <summary>
    /// Throws when the model cannot serve sequences of <paramref name="maxModelLen"/> tokens exactly. Build checks it
    /// against the bento's max_model_len, the runtime against the effective one. Sliding windows are implemented (every
    /// layer attends exactly as its config says at any length); dynamic NTK scaling is exact only up to its original
    /// length, where it changes nothing.
    /// </summary>
    public void CheckServable(int maxModelLen, string where = "max_model_len")
    {
        if (RopeScaling is { Type: "dynamic" } dynamic && maxModelLen > dynamic.OriginalMaxPositionEmbeddings)
            throw new BentoException(
                $"{where} is {maxModelLen} but the model's rope_scaling (config.json) is 'dynamic' (dynamic NTK), which re-derives RoPE " +
                $"frequencies from the current length past {dynamic.OriginalMaxPositionEmbeddings} tokens - cached keys cannot follow that; " +
                $"set max_model_len to at most {dynamic.OriginalMaxPositionEmbeddings} (exact there: dynamic scaling changes nothing below it)");
    }

    /// <summary>
    /// Rotary inverse frequencies (<see cref="RotaryDim"/> / 2 of them) the way transformers' ROPE_INIT_FUNCTIONS
    /// compute them, in double precision. <paramref name="local"/>: Gemma 3's sliding-window layers (base
    /// rope_local_base_freq, never scaled). <paramref name="contextLength"/>: the longest sequence served, which picks
    /// LongRoPE's long factors when it exceeds original_max_position_embeddings (llama.cpp's rule; transformers switches
    /// per forward by the current length, so the two agree whenever the context stays within the original length).
    /// </summary>
    public double[] RopeInverseFrequencies(bool local = false, int contextLength = 0)
    {
        var dim = RotaryDim;
        var half = dim / 2;
        var theta = local ? RopeLocalBaseFreq ?? throw new InvalidOperationException($"{Architecture} has no local RoPE base") : RopeTheta;
        var inv = new double[half];
        for (var i = 0; i < half; i++)
            inv[i] = 1.0 / Math.Pow(theta, 2.0 * i / dim);
        if (local) return inv;
        switch (RopeScaling)
        {
            case null or { Type: "default" or "dynamic" }:
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
            case { Type: "longrope" } s:
                var factors = UsesLongRopeFactors(contextLength) ? s.LongFactor! : s.ShortFactor!;
                for (var i = 0; i < half; i++) inv[i] /= factors[i];
                break;
        }
        return inv;
    }

    /// <summary>Whether a context of <paramref name="contextLength"/> tokens uses LongRoPE's long factors.</summary>
    public bool UsesLongRopeFactors(int contextLength) =>
        RopeScaling is { Type: "longrope" } s && contextLength > s.OriginalMaxPositionEmbeddings;

    /// <summary>What cos and sin are multiplied by (LongRoPE's attention factor; 1 otherwise).</summary>
    public double RopeAttentionFactor(bool local = false) => !local && RopeScaling is { Type: "longrope" } s ? s.AttentionFactor : 1.0;

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
        private readonly ConfigFields? _outer;
        private readonly string _prefix = "";

        public ConfigFields(JsonElement root, string display)
        {
            if (root.ValueKind != JsonValueKind.Object) throw new BentoException($"{display}: expected a JSON object");
            (_root, _display) = (root, display);
        }

        private ConfigFields(JsonElement root, string display, ConfigFields outer, string key)
        {
            (_root, _display, _outer, _prefix) = (root, display, outer, key + ".");
        }

        /// <summary>The object under <paramref name="key"/> (a multimodal config's text_config): its keys first, then
        /// this object's for keys it lacks; errors name the key where it was found.</summary>
        public ConfigFields Nested(string key, string architecture) => Get(key) switch
        {
            { ValueKind: JsonValueKind.Object } v => new ConfigFields(v, _display, this, key),
            null => throw Fail(key, $"missing; {architecture} keeps its text model's settings there"),
            var v => throw Fail(key, $"expected an object, got {Describe(v.Value)}"),
        };

        /// <summary>An error about <paramref name="key"/>, named as it appears in the file (text_config.hidden_size).</summary>
        public BentoException Fail(string key, string message) =>
            _outer is not null && !_root.TryGetProperty(key.Split('.')[0], out _) && _outer.Present(key.Split('.')[0])
                ? _outer.Fail(key, message)
                : new($"{_display}: {_prefix}{key}: {message}");

        public string Display => _display;

        public JsonElement? Raw(string key) => Get(key);

        public bool Has(string key) => Get(key) is not null;

        /// <summary>The key is there, even as null (null then means "none", not "the default").</summary>
        public bool Present(string key) => _root.TryGetProperty(key, out _) || _outer?.Present(key) == true;

        private JsonElement? Get(string key) => _root.TryGetProperty(key, out var v)
            ? v.ValueKind != JsonValueKind.Null ? v : null
            : _outer?.Get(key);

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

        /// <summary>A positive number, or null when absent.</summary>
        public double? Positive(string key)
        {
            var value = Double(key);
            if (value is <= 0) throw Fail(key, $"{value} must be positive");
            return value;
        }

        /// <summary>A positive number; null in config.json means none, an absent key <paramref name="fallback"/>.</summary>
        public double? OptionalPositive(string key, double? fallback) => Present(key) ? Positive(key) : fallback;

        /// <summary>layer_types ("sliding_attention" / "full_attention" per layer) as sliding flags, or null when absent.</summary>
        public IReadOnlyList<bool>? LayerTypes(int layers)
        {
            if (Get("layer_types") is not { } e) return null;
            if (e.ValueKind != JsonValueKind.Array || e.GetArrayLength() != layers)
                throw Fail("layer_types", $"expected a list of {layers} entries (one per layer), got {Describe(e)}");
            return e.EnumerateArray().Select(t => t.ValueKind == JsonValueKind.String ? t.GetString() switch
            {
                "sliding_attention" => true,
                "full_attention" => false,
                var other => throw Fail("layer_types", $"'{other}' is not supported (supported: sliding_attention, full_attention)"),
            } : throw Fail("layer_types", $"expected strings, got {Describe(t)}")).ToArray();
        }

        public RopeScaling? RopeScaling(int maxPositions, int? topLevelOriginalMax, int rotaryDim)
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
            int OriginalMax(int fallback) => (int)Math.Clamp(D("original_max_position_embeddings", fallback), 1, ModelContract.MaxContextLength);
            var factor = D("factor", 1.0);
            if (type is not ("default" or "longrope" or "su") && !(factor > 0)) throw Fail("rope_scaling.factor", $"{factor} must be positive");
            var scaling = type switch
            {
                "default" => new RopeScaling("default", 1.0),
                "linear" => new RopeScaling("linear", factor),
                "dynamic" => new RopeScaling("dynamic", factor, OriginalMaxPositionEmbeddings: OriginalMax(maxPositions)),
                "llama3" => new RopeScaling("llama3", factor, D("low_freq_factor", 1.0), D("high_freq_factor", 4.0), OriginalMax(8192)),
                _ => LongRope(e, maxPositions, topLevelOriginalMax ?? OriginalMax(maxPositions), rotaryDim, D),
            };
            if (scaling.Type == "llama3" && !(scaling.HighFreqFactor > scaling.LowFreqFactor && scaling.LowFreqFactor > 0))
                throw Fail("rope_scaling", "llama3 needs high_freq_factor > low_freq_factor > 0");
            return scaling;
        }

        /// <summary>
        /// LongRoPE as transformers' _compute_longrope_parameters reads it: the attention factor is rope_scaling's
        /// attention_factor, else sqrt(1 + ln(s) / ln(original)) with s = max_position_embeddings / original (1 when s &lt;= 1).
        /// </summary>
        private RopeScaling LongRope(JsonElement e, int maxPositions, int originalMax, int rotaryDim, Func<string, double, double> number)
        {
            IReadOnlyList<double> Factors(string key)
            {
                if (!e.TryGetProperty(key, out var list) || list.ValueKind != JsonValueKind.Array)
                    throw Fail($"rope_scaling.{key}", $"missing; longrope needs {rotaryDim / 2} factors (one per rotated dimension pair)");
                var values = list.EnumerateArray().Select(v => v.ValueKind == JsonValueKind.Number && v.TryGetDouble(out var d) && d > 0 && double.IsFinite(d)
                    ? d : throw Fail($"rope_scaling.{key}", $"expected positive numbers, got {Describe(v)}")).ToArray();
                if (values.Length != rotaryDim / 2)
                    throw Fail($"rope_scaling.{key}", $"has {values.Length} values but the rotated part of a head ({rotaryDim} dimensions) needs {rotaryDim / 2}");
                return values;
            }
            var scale = (double)maxPositions / originalMax;
            var attention = number("attention_factor", scale <= 1 ? 1.0 : Math.Sqrt(1 + Math.Log(scale) / Math.Log(originalMax)));
            if (!(attention > 0)) throw Fail("rope_scaling.attention_factor", $"{attention} must be positive");
            return new RopeScaling("longrope", scale, OriginalMaxPositionEmbeddings: originalMax,
                ShortFactor: Factors("short_factor"), LongFactor: Factors("long_factor"), AttentionFactor: attention);
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
