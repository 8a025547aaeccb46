using System.Text.Json;

namespace Bento.ModelGen;

/// <summary>
/// rope_scaling of a generated config, written with the keys the published configs use: "longrope" (Phi-3 /
/// Phi-4-mini: short_factor and long_factor lists), "linear" (Gemma 3's global layers), "llama3" (Llama 3.1 / 3.2) or
/// "dynamic" (dynamic NTK, seen in community Llama 2 fine-tunes).
/// </summary>
public sealed record RopeScalingSpec(string Type, double Factor = 1.0)
{
    public IReadOnlyList<double>? ShortFactor { get; init; }
    public IReadOnlyList<double>? LongFactor { get; init; }
    public double LowFreqFactor { get; init; } = 1.0;
    public double HighFreqFactor { get; init; } = 4.0;
    public int OriginalMaxPositionEmbeddings { get; init; } = 8192;

    internal void Write(Utf8JsonWriter w)
    {
        w.WriteStartObject();
        switch (Type)
        {
            case "longrope":
                WriteList(w, "long_factor", LongFactor ?? throw new ArgumentException("longrope needs long_factor"));
                WriteList(w, "short_factor", ShortFactor ?? throw new ArgumentException("longrope needs short_factor"));
                w.WriteString("type", "longrope");
                break;
            case "llama3":
                JsonText.WritePythonFloat(w, "factor", Factor);
                JsonText.WritePythonFloat(w, "high_freq_factor", HighFreqFactor);
                JsonText.WritePythonFloat(w, "low_freq_factor", LowFreqFactor);
                w.WriteNumber("original_max_position_embeddings", OriginalMaxPositionEmbeddings);
                w.WriteString("rope_type", "llama3");
                break;
            case "linear":
                JsonText.WritePythonFloat(w, "factor", Factor);
                w.WriteString("rope_type", "linear");
                break;
            case "dynamic":
                JsonText.WritePythonFloat(w, "factor", Factor);
                w.WriteString("type", "dynamic");
                break;
            default:
                throw new ArgumentException($"rope_scaling type '{Type}' is not one the generator writes (longrope, llama3, linear, dynamic)");
        }
        w.WriteEndObject();
    }

    private static void WriteList(Utf8JsonWriter w, string name, IReadOnlyList<double> values)
    {
        w.WriteStartArray(name);
        foreach (var v in values) w.WriteRawValue(JsonText.PythonFloat(v));
        w.WriteEndArray();
    }
}

/// <summary>
/// Architecture hyper-parameters of a Llama-shaped model (Llama, Qwen2, Qwen3, Phi-3, Gemma 2/3: see
/// <see cref="ModelFamily"/>), with the writers for Hugging Face's <c>config.json</c> and <c>generation_config.json</c>.
/// The family-specific values are null for families that do not have them.
/// </summary>
public sealed record LlamaConfig
{
    private readonly int? _headDim;

    public ModelFamily Family { get; init; } = ModelFamily.Llama;
    public required int VocabSize { get; init; }
    public required int HiddenSize { get; init; }
    public required int IntermediateSize { get; init; }
    public required int NumHiddenLayers { get; init; }
    public required int NumAttentionHeads { get; init; }
    public required int NumKeyValueHeads { get; init; }
    public int MaxPositionEmbeddings { get; init; } = 2048;
    public double RopeTheta { get; init; } = 10000.0;
    public double RmsNormEps { get; init; } = 1e-5;
    public bool TieWordEmbeddings { get; init; }
    public RopeScalingSpec? RopeScaling { get; init; }

    /// <summary>Sliding-window attention (Phi-3, Gemma); null writes none (Phi-3) or is refused (Gemma needs one).</summary>
    public int? SlidingWindow { get; init; }

    /// <summary>Phi-3: original_max_position_embeddings (LongRoPE's pretraining length).</summary>
    public int? OriginalMaxPositionEmbeddings { get; init; }

    /// <summary>Phi-4-mini: the fraction of each head RoPE rotates.</summary>
    public double? PartialRotaryFactor { get; init; }

    /// <summary>Phi-4-mini's extra keys (full_attn_mod, interpolate_factor, lm_head_bias, mlp_bias).</summary>
    public bool Phi4MiniKeys { get; init; }

    /// <summary>Gemma: query_pre_attn_scalar (the published ones equal head_dim).</summary>
    public int? QueryPreAttnScalar { get; init; }

    /// <summary>Gemma 2: attn_logit_softcapping / final_logit_softcapping (Gemma 3 writes null).</summary>
    public double? AttnLogitSoftcapping { get; init; }
    public double? FinalLogitSoftcapping { get; init; }

    /// <summary>Gemma 3: every sliding_window_pattern-th layer is global; local layers use rope_local_base_freq.</summary>
    public int? SlidingWindowPattern { get; init; }
    public double? RopeLocalBaseFreq { get; init; }

    /// <summary>Gemma 3 only: write the checkpoint as the multimodal Gemma3ForConditionalGeneration (gemma-3-4b-it and
    /// larger), this text model nested under text_config and language_model., beside a small vision tower
    /// (<see cref="Gemma3Multimodal"/>).</summary>
    public bool Multimodal { get; init; }

    /// <summary>"float32", "float16" or "bfloat16": the dtype of the stored weights.</summary>
    public string TorchDtype { get; init; } = "float32";

    public int BosTokenId { get; init; }
    public int EosTokenId { get; init; }

    /// <summary>A second end-of-sequence id config.json lists (Gemma lists &lt;eos&gt; and &lt;end_of_turn&gt;).</summary>
    public int? EndOfTurnTokenId { get; init; }

    /// <summary>Per-head width: hidden_size / num_attention_heads unless set (Qwen3-0.6B: 128 with 1024 / 16).</summary>
    public int HeadDim
    {
        get => _headDim ?? HiddenSize / NumAttentionHeads;
        init => _headDim = value;
    }

    /// <summary>Dimensions of each head that RoPE rotates.</summary>
    public int RotaryDim => (int)(HeadDim * (PartialRotaryFactor ?? 1.0));

    /// <summary>Throws when the numbers cannot describe a working Llama model.</summary>
    public void Validate()
    {
        static void Positive(int value, string name)
        {
            if (value <= 0)
                throw new ArgumentException($"{name} must be positive, got {value}.");
        }

        Positive(VocabSize, "vocab_size");
        Positive(HiddenSize, "hidden_size");
        Positive(IntermediateSize, "intermediate_size");
        Positive(NumHiddenLayers, "num_hidden_layers");
        Positive(NumAttentionHeads, "num_attention_heads");
        Positive(NumKeyValueHeads, "num_key_value_heads");
        Positive(MaxPositionEmbeddings, "max_position_embeddings");
        if (_headDim is { } explicitHeadDim) Positive(explicitHeadDim, "head_dim");
        else if (HiddenSize % NumAttentionHeads != 0)
            throw new ArgumentException($"hidden_size ({HiddenSize}) must be a multiple of num_attention_heads ({NumAttentionHeads}).");
        if (NumAttentionHeads % NumKeyValueHeads != 0)
            throw new ArgumentException($"num_attention_heads ({NumAttentionHeads}) must be a multiple of num_key_value_heads ({NumKeyValueHeads}) for grouped-query attention.");
        if (HeadDim % 2 != 0)
            throw new ArgumentException($"head_dim ({HeadDim}) must be even for rotary embeddings.");
        if (RotaryDim % 2 != 0 || RotaryDim < 2)
            throw new ArgumentException($"partial_rotary_factor {PartialRotaryFactor} leaves {RotaryDim} rotated dimensions of {HeadDim}; it must be even.");
        SafetensorsDType.FromTorchDtype(TorchDtype); // throws for unknown names
        if (!(RopeTheta > 0) || !(RmsNormEps > 0))
            throw new ArgumentException("rope_theta and rms_norm_eps must be positive.");
        if (BosTokenId < 0 || BosTokenId >= VocabSize || EosTokenId < 0 || EosTokenId >= VocabSize)
            throw new ArgumentException($"bos/eos token ids ({BosTokenId}, {EosTokenId}) must be inside the vocabulary (0..{VocabSize - 1}).");
        if (SlidingWindow is <= 0)
            throw new ArgumentException($"sliding_window must be positive, got {SlidingWindow}.");
        if (Family.IsGemma() && SlidingWindow is null)
            throw new ArgumentException("Gemma configs need a sliding_window.");
        if (RopeScaling is { Type: "longrope" } longRope && (longRope.ShortFactor?.Count != RotaryDim / 2 || longRope.LongFactor?.Count != RotaryDim / 2))
            throw new ArgumentException($"longrope needs {RotaryDim / 2} short and long factors (rotated dimensions / 2).");
        if (Multimodal && Family != ModelFamily.Gemma3)
            throw new ArgumentException("only Gemma 3 has a multimodal (ConditionalGeneration) checkpoint layout.");
    }

    /// <summary>The safetensors dtype tag ("F32", "F16", "BF16") matching <see cref="TorchDtype"/>.</summary>
    public string SafetensorsDtype => SafetensorsDType.FromTorchDtype(TorchDtype);

    /// <summary>config.json as transformers writes it: keys sorted (transformers uses sort_keys=True), 2-space
    /// indentation, with the keys each family's published configs carry: Llama 3.x (LlamaForCausalLM), Qwen2.5 (no
    /// attention_bias or head_dim; an unused sliding window switched off by use_sliding_window, as in Qwen3),
    /// Phi-3-mini / Phi-4-mini (original_max_position_embeddings, sliding_window, the dropout keys, Phi-4-mini's
    /// partial_rotary_factor), gemma-2-2b-it (both activation keys, soft-caps, query_pre_attn_scalar, no
    /// tie_word_embeddings: Gemma ties by default) and gemma-3-1b-it (rope_local_base_freq, sliding_window_pattern).</summary>
    public byte[] ToConfigJson()
    {
        Validate();
        var keys = new SortedDictionary<string, Action<Utf8JsonWriter>>(StringComparer.Ordinal);
        void Int(string key, int value) => keys[key] = w => w.WriteNumber(key, value);
        void Float(string key, double value) => keys[key] = w => JsonText.WritePythonFloat(w, key, value);
        void NullableFloat(string key, double? value) => keys[key] = w => { if (value is { } v) JsonText.WritePythonFloat(w, key, v); else w.WriteNull(key); };
        void Bool(string key, bool value) => keys[key] = w => w.WriteBoolean(key, value);
        void Text(string key, string value) => keys[key] = w => w.WriteString(key, value);
        void Null(string key) => keys[key] = w => w.WriteNull(key);

        keys["architectures"] = w =>
        {
            w.WriteStartArray("architectures");
            w.WriteStringValue(Family.ArchitectureName());
            w.WriteEndArray();
        };
        Float("attention_dropout", 0.0);
        Int("bos_token_id", BosTokenId);
        if (EndOfTurnTokenId is { } endOfTurn)
            keys["eos_token_id"] = w =>
            {
                w.WriteStartArray("eos_token_id");
                w.WriteNumberValue(EosTokenId);
                w.WriteNumberValue(endOfTurn);
                w.WriteEndArray();
            };
        else
            Int("eos_token_id", EosTokenId);
        Text("hidden_act", Family.IsGemma() ? "gelu_pytorch_tanh" : "silu");
        Int("hidden_size", HiddenSize);
        Float("initializer_range", LlamaWeights.InitStdDev);
        Int("intermediate_size", IntermediateSize);
        Int("max_position_embeddings", MaxPositionEmbeddings);
        Text("model_type", Family.ModelType());
        Int("num_attention_heads", NumAttentionHeads);
        Int("num_hidden_layers", NumHiddenLayers);
        Int("num_key_value_heads", NumKeyValueHeads);
        Float("rms_norm_eps", RmsNormEps);
        keys["rope_scaling"] = w => { if (RopeScaling is null) w.WriteNull("rope_scaling"); else { w.WritePropertyName("rope_scaling"); RopeScaling.Write(w); } };
        Float("rope_theta", RopeTheta);
        Bool("tie_word_embeddings", TieWordEmbeddings);
        Text("torch_dtype", TorchDtype);
        Bool("use_cache", true);
        Int("vocab_size", VocabSize);

        switch (Family)
        {
            case ModelFamily.Llama:
                Bool("attention_bias", false);
                Int("head_dim", HeadDim);
                Bool("mlp_bias", false);
                Int("pretraining_tp", 1);
                break;
            case ModelFamily.Qwen2 or ModelFamily.Qwen3:
                if (Family == ModelFamily.Qwen3)
                {
                    Bool("attention_bias", false);
                    Int("head_dim", HeadDim);
                }
                Int("max_window_layers", NumHiddenLayers);
                if (Family == ModelFamily.Qwen2) Int("sliding_window", MaxPositionEmbeddings);
                else Null("sliding_window");
                Bool("use_sliding_window", false);
                break;
            case ModelFamily.Phi3:
                Bool("attention_bias", false);
                Float("embd_pdrop", 0.0);
                Int("original_max_position_embeddings", OriginalMaxPositionEmbeddings ?? MaxPositionEmbeddings);
                Int("pad_token_id", EosTokenId);
                Float("resid_pdrop", 0.0);
                if (SlidingWindow is { } phiWindow) Int("sliding_window", phiWindow);
                if (PartialRotaryFactor is { } partial) Float("partial_rotary_factor", partial);
                if (Phi4MiniKeys)
                {
                    Int("full_attn_mod", 1);
                    Int("interpolate_factor", 1);
                    Bool("lm_head_bias", false);
                    Bool("mlp_bias", false);
                }
                break;
            case ModelFamily.Gemma2 or ModelFamily.Gemma3:
                // Gemma ties its embeddings by default and its published configs leave the key out.
                if (!TieWordEmbeddings) throw new ArgumentException("Gemma configs tie their embeddings");
                keys.Remove("tie_word_embeddings");
                Bool("attention_bias", false);
                NullableFloat("attn_logit_softcapping", AttnLogitSoftcapping);
                Text("cache_implementation", "hybrid");
                NullableFloat("final_logit_softcapping", FinalLogitSoftcapping);
                Int("head_dim", HeadDim);
                Text("hidden_activation", "gelu_pytorch_tanh");
                Int("pad_token_id", 0);
                Int("query_pre_attn_scalar", QueryPreAttnScalar ?? HeadDim);
                Int("sliding_window", SlidingWindow!.Value);
                if (Family == ModelFamily.Gemma2)
                {
                    keys.Remove("rope_scaling"); // gemma-2-2b-it has no rope_scaling key
                }
                else
                {
                    keys.Remove("hidden_act"); // gemma-3-1b-it names only hidden_activation
                    Float("rope_local_base_freq", RopeLocalBaseFreq ?? 10000.0);
                    Int("sliding_window_pattern", SlidingWindowPattern ?? 6);
                }
                break;
        }

        if (Multimodal) return Gemma3Multimodal.ConfigJson(this, keys);
        return JsonText.Build(w =>
        {
            w.WriteStartObject();
            foreach (var write in keys.Values) write(w);
            w.WriteEndObject();
        });
    }

    /// <summary>generation_config.json. Greedy decoding by default (do_sample false) because the example
    /// model is judged by its deterministic continuation. <paramref name="stopTokenIds"/> lets chat models
    /// also stop at &lt;|eot_id|&gt;, as Llama 3 does; it defaults to the single eos token.</summary>
    public byte[] ToGenerationConfigJson(IReadOnlyList<int>? stopTokenIds = null)
    {
        Validate();
        var stops = stopTokenIds is { Count: > 0 } ? stopTokenIds : [EosTokenId];
        return JsonText.Build(w =>
        {
            w.WriteStartObject();
            w.WriteNumber("bos_token_id", BosTokenId);
            w.WriteBoolean("do_sample", false);
            w.WritePropertyName("eos_token_id");
            if (stops.Count == 1)
            {
                w.WriteNumberValue(stops[0]);
            }
            else
            {
                w.WriteStartArray();
                foreach (var id in stops)
                    w.WriteNumberValue(id);
                w.WriteEndArray();
            }
            w.WriteNumber("max_length", MaxPositionEmbeddings);
            w.WriteEndObject();
        });
    }
}
