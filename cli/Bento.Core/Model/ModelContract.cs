namespace Bento.Core.Model;

/// <summary>
/// What the runtime can serve: architectures and their model_type values, the config values it implements, the
/// bounds on model dimensions, the weight dtypes, and (in <see cref="LlamaTensorLayout"/>) the tensors each
/// architecture must have. <c>bento build</c> validates a model folder against it and the runtime loads with it
/// (<see cref="ModelConfig"/> is the one parser), so a bento that builds is a bento that serves.
/// </summary>
public static class ModelContract
{
    /// <summary>
    /// A decoder-only family served by the one Llama-shaped forward pass; the flags are its only differences.
    /// </summary>
    /// <param name="QkvBias">q_proj, k_proj and v_proj carry biases (o_proj none), whatever config.json says: Qwen2.</param>
    /// <param name="QkNorm">Per-head RMSNorm (weights of shape [head_dim]) on queries and keys before RoPE: Qwen3.</param>
    /// <param name="SlidingWindowNeedsFlag">sliding_window only applies when use_sliding_window is true (default
    /// false): Qwen configs carry a window they do not use. Mistral applies sliding_window whenever it is set.</param>
    public sealed record Architecture(string Name, IReadOnlyList<string> ModelTypes, bool QkvBias = false, bool QkNorm = false,
        bool SlidingWindowNeedsFlag = false);

    /// <summary>
    /// Mistral checkpoints are Llama with grouped-query attention and (optionally) a sliding window. Qwen2/Qwen2.5 add
    /// q/k/v biases; Qwen3 (dense) adds q/k norms and may have a head_dim other than hidden_size / heads.
    /// </summary>
    public static readonly IReadOnlyList<Architecture> Architectures =
    [
        new("LlamaForCausalLM", ["llama"]),
        new("MistralForCausalLM", ["mistral"]),
        new("Qwen2ForCausalLM", ["qwen2"], QkvBias: true, SlidingWindowNeedsFlag: true),
        new("Qwen3ForCausalLM", ["qwen3"], QkNorm: true, SlidingWindowNeedsFlag: true),
    ];

    public static readonly IReadOnlyList<string> HiddenActivations = ["silu"];

    /// <summary>rope_scaling types, by rope_type (or the older "type"); "default" means none.</summary>
    public static readonly IReadOnlyList<string> RopeScalingTypes = ["default", "linear", "llama3"];

    /// <summary>Boolean config keys the runtime does not implement when true, with what to tell the user.</summary>
    public static readonly IReadOnlyDictionary<string, string> UnsupportedWhenTrue = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        // Qwen2's q/k/v biases come with the architecture, not from this key; attention_bias adds an o_proj bias too.
        ["attention_bias"] = "the runtime's attention has no o_proj bias (q/k/v biases only with Qwen2ForCausalLM)",
        ["mlp_bias"] = "the runtime's Llama MLP has no biases",
    };

    /// <summary>
    /// Upper bounds on the dimensions config.json declares, checked before anything is sized from them: a hostile
    /// <c>num_hidden_layers: 2147483647</c> must be an error, not gigabytes of tensor names. Each is well above the
    /// largest published model of these families.
    /// </summary>
    public static readonly IReadOnlyDictionary<string, int> DimensionLimits = new Dictionary<string, int>(StringComparer.Ordinal)
    {
        ["vocab_size"] = 1 << 22,
        ["hidden_size"] = 1 << 16,
        ["intermediate_size"] = 1 << 20,
        ["num_hidden_layers"] = 1024,
        ["num_attention_heads"] = 1024,
        ["num_key_value_heads"] = 1024,
        ["head_dim"] = 1024,
        ["max_position_embeddings"] = MaxContextLength,
    };

    /// <summary>The longest context a model or a max_model_len setting may declare (16Mi tokens).</summary>
    public const int MaxContextLength = 1 << 24;

    /// <summary>Weight dtypes the runtime loads, as safetensors codes.</summary>
    public static IEnumerable<string> WeightDtypeCodes => ModelDtype.All.Select(d => d.Safetensors);

    public static Architecture? Find(string name) => Architectures.FirstOrDefault(a => a.Name == name);

    /// <summary>For messages: "LlamaForCausalLM (model_type llama), MistralForCausalLM (model_type mistral)".</summary>
    public static string SupportedArchitectures =>
        string.Join(", ", Architectures.Select(a => $"{a.Name} (model_type {string.Join("/", a.ModelTypes)})"));
}
