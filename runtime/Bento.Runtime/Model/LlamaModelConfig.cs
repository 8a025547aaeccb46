using System.Text.Json;

namespace Bento.Runtime.Model;

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
/// What the model needs from config.json for Llama-family checkpoints (Llama 2/3, TinyLlama, Mistral-style:
/// grouped-query attention, optional tied embeddings, no biases). Defaults follow transformers' LlamaConfig.
/// </summary>
public sealed record LlamaModelConfig
{
    public int VocabSize { get; init; } = 32000;
    public int HiddenSize { get; init; } = 4096;
    public int IntermediateSize { get; init; } = 11008;
    public int NumHiddenLayers { get; init; } = 32;
    public int NumAttentionHeads { get; init; } = 32;
    public int NumKeyValueHeads { get; init; } = 32;

    /// <summary>head_dim; transformers derives hidden_size / num_attention_heads when absent.</summary>
    public int HeadDim { get; init; } = 128;

    public double RmsNormEps { get; init; } = 1e-6;
    public double RopeTheta { get; init; } = 10000.0;
    public RopeScaling? RopeScaling { get; init; }
    public int MaxPositionEmbeddings { get; init; } = 2048;
    public bool TieWordEmbeddings { get; init; }

    /// <summary>"float32", "float16" or "bfloat16" (null when config.json does not say).</summary>
    public string? TorchDtype { get; init; }

    /// <summary>Mistral's sliding-window attention; null means full attention.</summary>
    public int? SlidingWindow { get; init; }

    public int? BosTokenId { get; init; }
    public IReadOnlyList<int> EosTokenIds { get; init; } = [];

    public int KeyValueGroups => NumAttentionHeads / NumKeyValueHeads;

    public static LlamaModelConfig Load(string path)
    {
        var file = Directory.Exists(path) ? Path.Combine(path, "config.json") : path;
        if (!File.Exists(file))
            throw new InvalidDataException($"{file}: missing; a Hugging Face model folder needs config.json");
        try { return Parse(File.ReadAllText(file)); }
        catch (Exception e) when (e is JsonException or InvalidDataException)
        {
            throw new InvalidDataException($"{file}: {e.Message}", e);
        }
    }

    public static LlamaModelConfig Parse(string json)
    {
        using var doc = JsonDocument.Parse(json);
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object)
            throw new InvalidDataException("config.json is not a JSON object");

        bool Has(string key, out JsonElement value) =>
            root.TryGetProperty(key, out value) && value.ValueKind != JsonValueKind.Null;
        int Int(string key, int fallback) => Has(key, out var v) ? v.GetInt32() : fallback;
        double Double(string key, double fallback) => Has(key, out var v) ? v.GetDouble() : fallback;
        bool Bool(string key, bool fallback) => Has(key, out var v) ? v.GetBoolean() : fallback;

        if (Has("model_type", out var modelType) && modelType.GetString() is { } mt && mt is not ("llama" or "mistral"))
            throw new InvalidDataException($"model_type '{mt}' is not a Llama-family model (expected llama or mistral)");
        if (Bool("attention_bias", false) || Bool("mlp_bias", false))
            throw new InvalidDataException("attention_bias / mlp_bias are not supported (Llama has no biases)");
        if (Has("hidden_act", out var act) && act.GetString() is { } a && a != "silu")
            throw new InvalidDataException($"hidden_act '{a}' is not supported (Llama uses silu)");

        var hidden = Int("hidden_size", 4096);
        var heads = Int("num_attention_heads", 32);
        var config = new LlamaModelConfig
        {
            VocabSize = Int("vocab_size", 32000),
            HiddenSize = hidden,
            IntermediateSize = Int("intermediate_size", 11008),
            NumHiddenLayers = Int("num_hidden_layers", 32),
            NumAttentionHeads = heads,
            NumKeyValueHeads = Int("num_key_value_heads", heads),
            HeadDim = Int("head_dim", heads > 0 ? hidden / heads : 0),
            RmsNormEps = Double("rms_norm_eps", 1e-6),
            RopeTheta = Double("rope_theta", 10000.0),
            RopeScaling = Has("rope_scaling", out var rs) ? ParseRopeScaling(rs) : null,
            MaxPositionEmbeddings = Int("max_position_embeddings", 2048),
            TieWordEmbeddings = Bool("tie_word_embeddings", false),
            TorchDtype = Has("torch_dtype", out var dt) ? dt.GetString() : Has("dtype", out var dt2) ? dt2.GetString() : null,
            SlidingWindow = Has("sliding_window", out var sw) ? sw.GetInt32() : null,
            BosTokenId = Has("bos_token_id", out var bos) && bos.ValueKind == JsonValueKind.Number ? bos.GetInt32() : null,
            EosTokenIds = Has("eos_token_id", out var eos)
                ? eos.ValueKind == JsonValueKind.Array ? eos.EnumerateArray().Select(e => e.GetInt32()).ToArray() : [eos.GetInt32()]
                : [],
        };
        config.Validate();
        return config;
    }

    private static RopeScaling ParseRopeScaling(JsonElement e)
    {
        if (e.ValueKind != JsonValueKind.Object)
            throw new InvalidDataException("rope_scaling must be an object or null");
        var type = e.TryGetProperty("rope_type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString()
            : e.TryGetProperty("type", out var t2) && t2.ValueKind == JsonValueKind.String ? t2.GetString() : null;
        double D(string key, double fallback) =>
            e.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : fallback;
        var factor = D("factor", 1.0);
        return type switch
        {
            "default" => new RopeScaling("default", 1.0),
            "linear" => new RopeScaling("linear", factor),
            "llama3" => new RopeScaling("llama3", factor, D("low_freq_factor", 1.0), D("high_freq_factor", 4.0),
                (int)D("original_max_position_embeddings", 8192)),
            _ => throw new InvalidDataException(
                $"rope_scaling type '{type}' is not supported (supported: linear, llama3; dynamic/yarn/longrope are not implemented)"),
        };
    }

    public void Validate()
    {
        void Positive(int v, string name)
        {
            if (v <= 0) throw new InvalidDataException($"{name} must be positive, got {v}");
        }
        Positive(VocabSize, "vocab_size");
        Positive(HiddenSize, "hidden_size");
        Positive(IntermediateSize, "intermediate_size");
        Positive(NumHiddenLayers, "num_hidden_layers");
        Positive(NumAttentionHeads, "num_attention_heads");
        Positive(NumKeyValueHeads, "num_key_value_heads");
        Positive(HeadDim, "head_dim");
        Positive(MaxPositionEmbeddings, "max_position_embeddings");
        if (NumAttentionHeads % NumKeyValueHeads != 0)
            throw new InvalidDataException($"num_attention_heads ({NumAttentionHeads}) must be a multiple of num_key_value_heads ({NumKeyValueHeads})");
        if (HeadDim % 2 != 0)
            throw new InvalidDataException($"head_dim ({HeadDim}) must be even for rotary embeddings");
        if (RopeScaling is { Type: "llama3" } s && !(s.HighFreqFactor > s.LowFreqFactor))
            throw new InvalidDataException("rope_scaling llama3 needs high_freq_factor > low_freq_factor");
        if (RopeScaling is { } r && !(r.Factor > 0))
            throw new InvalidDataException("rope_scaling factor must be positive");
    }

    /// <summary>
    /// Throws when the model cannot serve sequences of <paramref name="maxModelLen"/> tokens exactly: we implement full
    /// attention only, which equals Mistral's sliding-window attention while sequences fit inside the window.
    /// </summary>
    public void CheckServable(int maxModelLen)
    {
        if (SlidingWindow is { } window && window < maxModelLen)
            throw new InvalidDataException(
                $"sliding_window is {window} but max_model_len is {maxModelLen}: sliding-window attention is not implemented; " +
                $"set max_model_len to at most {window} (full attention is exact within the window)");
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
}
