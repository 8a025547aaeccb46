using System.Text.Json;

namespace Bento.Core.Model;

/// <summary>
/// The parts of a Hugging Face <c>config.json</c> that decide tensor shapes and engine limits for Llama-family
/// models. Defaults follow transformers' LlamaConfig.
/// </summary>
public sealed record ModelConfig(
    string Architecture,
    string ModelType,
    int VocabSize,
    int HiddenSize,
    int IntermediateSize,
    int NumHiddenLayers,
    int NumAttentionHeads,
    int NumKeyValueHeads,
    int HeadDim,
    int MaxPositionEmbeddings,
    bool TieWordEmbeddings,
    bool AttentionBias,
    bool MlpBias,
    string? TorchDtype)
{
    /// <summary>Architectures our runtime implements (Mistral-style configs are Llama with GQA and no biases).</summary>
    public static readonly string[] SupportedArchitectures = ["LlamaForCausalLM", "MistralForCausalLM"];

    public static ModelConfig Load(string path)
    {
        var display = Spec.BentofileParser.DisplayPath(path);
        if (!File.Exists(path))
            throw new BentoException($"{display}: missing; a Hugging Face model folder needs config.json");
        JsonDocument doc;
        try { doc = JsonDocument.Parse(IO.InputFile.ReadAllBytes(path, InputLimits.ModelJsonBytes, "config.json")); }
        catch (JsonException e)
        {
            throw new BentoException($"{display}:{(e.LineNumber ?? 0) + 1}:{(e.BytePositionInLine ?? 0) + 1}: invalid JSON: {FirstSentence(e.Message)}");
        }
        using (doc) return FromJson(doc.RootElement, display);
    }

    private static ModelConfig FromJson(JsonElement root, string display)
    {
        if (root.ValueKind != JsonValueKind.Object) throw new BentoException($"{display}: expected a JSON object");
        string? architecture = null;
        if (root.TryGetProperty("architectures", out var archs) && archs.ValueKind == JsonValueKind.Array && archs.GetArrayLength() > 0)
            architecture = archs[0].GetString();
        if (architecture is null)
            throw new BentoException($"{display}: 'architectures' is missing; expected e.g. [\"LlamaForCausalLM\"]");
        if (!SupportedArchitectures.Contains(architecture))
            throw new BentoException($"{display}: architecture '{architecture}' is not supported by the BentoBuilder runtime (supported: {string.Join(", ", SupportedArchitectures)})");

        int Required(string key)
        {
            if (!root.TryGetProperty(key, out var v) || v.ValueKind != JsonValueKind.Number || !v.TryGetInt32(out var n) || n <= 0)
                throw new BentoException($"{display}: '{key}' must be a positive integer");
            return n;
        }
        int Optional(string key, int fallback) =>
            root.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var n) ? n
            : root.TryGetProperty(key, out v) && v.ValueKind != JsonValueKind.Null ? throw new BentoException($"{display}: '{key}' must be an integer")
            : fallback;
        bool Flag(string key) => root.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.True;

        var hidden = Required("hidden_size");
        var heads = Required("num_attention_heads");
        var kvHeads = Optional("num_key_value_heads", heads);
        if (kvHeads <= 0 || heads % kvHeads != 0)
            throw new BentoException($"{display}: num_attention_heads ({heads}) must be a multiple of num_key_value_heads ({kvHeads})");
        var headDim = Optional("head_dim", hidden % heads == 0 ? hidden / heads : 0);
        if (headDim <= 0) throw new BentoException($"{display}: hidden_size ({hidden}) is not a multiple of num_attention_heads ({heads}) and no head_dim is given");

        return new ModelConfig(
            architecture,
            root.TryGetProperty("model_type", out var mt) ? mt.GetString() ?? "llama" : "llama",
            Required("vocab_size"),
            hidden,
            Required("intermediate_size"),
            Required("num_hidden_layers"),
            heads,
            kvHeads,
            headDim,
            Optional("max_position_embeddings", 2048),
            Flag("tie_word_embeddings"),
            Flag("attention_bias"),
            Flag("mlp_bias"),
            root.TryGetProperty("torch_dtype", out var dt) && dt.ValueKind == JsonValueKind.String ? dt.GetString()
            : root.TryGetProperty("dtype", out dt) && dt.ValueKind == JsonValueKind.String ? dt.GetString() : null);
    }

    private static string FirstSentence(string message)
    {
        var cut = message.IndexOf(" Path:", StringComparison.Ordinal);
        return cut > 0 ? message[..cut] : message;
    }
}
