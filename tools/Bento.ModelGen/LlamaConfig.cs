using System.Text.Json;

namespace Bento.ModelGen;

/// <summary>
/// Architecture hyper-parameters of a Llama-shaped model (Llama, Qwen2, Qwen3: see <see cref="ModelFamily"/>), with
/// the writers for Hugging Face's <c>config.json</c> and <c>generation_config.json</c>.
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

    /// <summary>"float32", "float16" or "bfloat16": the dtype of the stored weights.</summary>
    public string TorchDtype { get; init; } = "float32";

    public int BosTokenId { get; init; }
    public int EosTokenId { get; init; }

    /// <summary>Per-head width: hidden_size / num_attention_heads unless set (Qwen3-0.6B: 128 with 1024 / 16).</summary>
    public int HeadDim
    {
        get => _headDim ?? HiddenSize / NumAttentionHeads;
        init => _headDim = value;
    }

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
        SafetensorsDType.FromTorchDtype(TorchDtype); // throws for unknown names
        if (!(RopeTheta > 0) || !(RmsNormEps > 0))
            throw new ArgumentException("rope_theta and rms_norm_eps must be positive.");
        if (BosTokenId < 0 || BosTokenId >= VocabSize || EosTokenId < 0 || EosTokenId >= VocabSize)
            throw new ArgumentException($"bos/eos token ids ({BosTokenId}, {EosTokenId}) must be inside the vocabulary (0..{VocabSize - 1}).");
    }

    /// <summary>The safetensors dtype tag ("F32", "F16", "BF16") matching <see cref="TorchDtype"/>.</summary>
    public string SafetensorsDtype => SafetensorsDType.FromTorchDtype(TorchDtype);

    /// <summary>config.json as transformers writes it: keys sorted (transformers uses sort_keys=True),
    /// 2-space indentation, with the keys each family's published configs carry (Qwen2.5 has no attention_bias or
    /// head_dim; both Qwen families carry an unused sliding window switched off by use_sliding_window).</summary>
    public byte[] ToConfigJson()
    {
        Validate();
        var llama = Family == ModelFamily.Llama;
        var qwen = !llama;
        return JsonText.Build(w =>
        {
            w.WriteStartObject();
            w.WriteStartArray("architectures");
            w.WriteStringValue(Family.ArchitectureName());
            w.WriteEndArray();
            if (Family != ModelFamily.Qwen2) w.WriteBoolean("attention_bias", false);
            JsonText.WritePythonFloat(w, "attention_dropout", 0.0);
            w.WriteNumber("bos_token_id", BosTokenId);
            w.WriteNumber("eos_token_id", EosTokenId);
            if (Family != ModelFamily.Qwen2) w.WriteNumber("head_dim", HeadDim);
            w.WriteString("hidden_act", "silu");
            w.WriteNumber("hidden_size", HiddenSize);
            JsonText.WritePythonFloat(w, "initializer_range", LlamaWeights.InitStdDev);
            w.WriteNumber("intermediate_size", IntermediateSize);
            w.WriteNumber("max_position_embeddings", MaxPositionEmbeddings);
            if (qwen) w.WriteNumber("max_window_layers", NumHiddenLayers);
            if (llama) w.WriteBoolean("mlp_bias", false);
            w.WriteString("model_type", Family.ModelType());
            w.WriteNumber("num_attention_heads", NumAttentionHeads);
            w.WriteNumber("num_hidden_layers", NumHiddenLayers);
            w.WriteNumber("num_key_value_heads", NumKeyValueHeads);
            if (llama) w.WriteNumber("pretraining_tp", 1);
            JsonText.WritePythonFloat(w, "rms_norm_eps", RmsNormEps);
            w.WriteNull("rope_scaling");
            JsonText.WritePythonFloat(w, "rope_theta", RopeTheta);
            if (Family == ModelFamily.Qwen2) w.WriteNumber("sliding_window", MaxPositionEmbeddings);
            else if (qwen) w.WriteNull("sliding_window");
            w.WriteBoolean("tie_word_embeddings", TieWordEmbeddings);
            w.WriteString("torch_dtype", TorchDtype);
            w.WriteBoolean("use_cache", true);
            if (qwen) w.WriteBoolean("use_sliding_window", false);
            w.WriteNumber("vocab_size", VocabSize);
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
