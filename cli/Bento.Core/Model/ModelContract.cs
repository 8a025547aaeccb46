namespace Bento.Core.Model;

/// <summary>
/// What the runtime can serve: architectures and their model_type values, the config values it implements, the
/// bounds on model dimensions, the weight dtypes, and (in <see cref="LlamaTensorLayout"/>) the tensors each
/// architecture must have. <c>bento build</c> validates a model folder against it and the runtime loads with it
/// (<see cref="ModelConfig"/> is the one parser), so a bento that builds is a bento that serves.
/// </summary>
public static class ModelContract
{
    /// <summary>Which layers use sliding-window attention when config.json sets a window.</summary>
    public enum WindowedLayers
    {
        /// <summary>Every layer (Mistral, Phi-3).</summary>
        All,

        /// <summary>Layers from max_window_layers on, and only with use_sliding_window: true (Qwen2, Qwen3).</summary>
        FromMaxWindowLayers,

        /// <summary>Every layer but each sliding_window_pattern-th, which attends globally (Gemma 2: 2, Gemma 3: 6).</summary>
        AllButEveryNth,
    }

    /// <summary>
    /// A decoder-only family served by the one Llama-shaped forward pass (runtime/Model/LlamaModel.cs); each property
    /// is one of its differences from Llama, and the defaults are Llama's.
    /// </summary>
    public sealed record Architecture(string Name, IReadOnlyList<string> ModelTypes)
    {
        /// <summary>q_proj, k_proj and v_proj carry biases (o_proj none), whatever config.json says: Qwen2.</summary>
        public bool QkvBias { get; init; }

        /// <summary>Per-head RMSNorm (weights [head_dim]) on queries and keys before RoPE: Qwen3, Gemma 3.</summary>
        public bool QkNorm { get; init; }

        /// <summary>q|k|v in one <c>qkv_proj</c> and gate|up in one <c>gate_up_proj</c> tensor: Phi-3.</summary>
        public bool FusedProjections { get; init; }

        /// <summary>Gemma's block: RMSNorm scales by (1 + weight), embeddings are multiplied by sqrt(hidden_size), and
        /// the attention and MLP outputs get their own norms (post_attention_layernorm, pre_/post_feedforward_layernorm).</summary>
        public bool GemmaBlock { get; init; }

        /// <summary>The MLP's gate activation (config.json's hidden_act, or hidden_activation for Gemma).</summary>
        public string Activation { get; init; } = "silu";

        /// <summary>tie_word_embeddings when config.json leaves it out (transformers' per-family default).</summary>
        public bool TiedByDefault { get; init; }

        public WindowedLayers Windows { get; init; } = WindowedLayers.All;

        /// <summary>sliding_window_pattern when config.json leaves it out (<see cref="WindowedLayers.AllButEveryNth"/>).</summary>
        public int DefaultWindowPattern { get; init; }

        /// <summary>sliding_window only applies when use_sliding_window is true (default false): Qwen configs carry a
        /// window they do not use.</summary>
        public bool SlidingWindowNeedsFlag { get; init; }

        /// <summary>sliding_window when config.json leaves it out (Gemma's configs always had one).</summary>
        public int? DefaultSlidingWindow { get; init; }

        /// <summary>Gemma 2's attn_logit_softcapping / final_logit_softcapping when config.json leaves them out.</summary>
        public double? DefaultAttnLogitSoftcapping { get; init; }
        public double? DefaultFinalLogitSoftcapping { get; init; }

        /// <summary>Sliding-window layers rotate with rope_local_base_freq (unscaled), global ones with rope_theta and
        /// rope_scaling: Gemma 3.</summary>
        public bool LocalRopeBase { get; init; }

        /// <summary>Dimensions config.json may leave out, where they are not Llama's (transformers' per-family config
        /// defaults; gemma-3-4b-it's text_config names only hidden, intermediate and layer sizes).</summary>
        public IReadOnlyDictionary<string, int> DimensionDefaults { get; init; } = new Dictionary<string, int>();

        /// <summary>bos_token_id when config.json leaves it out (Gemma3TextConfig's 2; gemma-3-4b-it's config names none).</summary>
        public int? DefaultBosTokenId { get; init; }

        /// <summary>A multimodal checkpoint's key holding the text model's config (Gemma 3's text_config); keys it lacks
        /// are read from the top level (torch_dtype, eos_token_id, quantization_config), then defaulted.</summary>
        public string? TextConfigKey { get; init; }

        /// <summary>Stored tensor-name prefixes and the names they stand for: a multimodal checkpoint nests the text
        /// model (language_model.model.layers.0... is model.layers.0...).</summary>
        public IReadOnlyList<(string Stored, string Canonical)> TensorPrefixes { get; init; } = [];

        /// <summary>Prefixes of tensors the runtime does not serve and leaves unread (a vision tower and its projector).</summary>
        public IReadOnlyList<string> IgnoredTensorPrefixes { get; init; } = [];

        /// <summary>The names a checkpoint of this architecture may store layout tensor (or module) <paramref name="canonical"/> under, besides its own.</summary>
        public IEnumerable<string> StoredTensorNames(string canonical) =>
            TensorPrefixes.Where(p => canonical.StartsWith(p.Canonical, StringComparison.Ordinal)).Select(p => p.Stored + canonical[p.Canonical.Length..]);

        /// <summary>The name <see cref="LlamaTensorLayout"/> and the runtime use for stored tensor <paramref name="stored"/>;
        /// null for a tensor of a part that is not served. Names already canonical stay as they are.</summary>
        public string? CanonicalTensorName(string stored)
        {
            foreach (var ignored in IgnoredTensorPrefixes)
                if (stored.StartsWith(ignored, StringComparison.Ordinal)) return null;
            foreach (var (prefix, canonical) in TensorPrefixes)
                if (stored.StartsWith(prefix, StringComparison.Ordinal)) return canonical + stored[prefix.Length..];
            return stored;
        }
    }

    /// <summary>transformers' Gemma3TextConfig defaults for the dimensions (what gemma-3-4b-it's text_config leaves out).</summary>
    private static readonly Dictionary<string, int> Gemma3TextDimensions = new(StringComparer.Ordinal)
    {
        ["vocab_size"] = 262208, ["hidden_size"] = 2304, ["intermediate_size"] = 9216, ["num_hidden_layers"] = 26,
        ["num_attention_heads"] = 8, ["num_key_value_heads"] = 4, ["head_dim"] = 256, ["max_position_embeddings"] = 131072,
    };

    /// <summary>
    /// Mistral checkpoints are Llama with grouped-query attention and (optionally) a sliding window. Qwen2/Qwen2.5 add
    /// q/k/v biases; Qwen3 (dense) adds q/k norms and may have a head_dim other than hidden_size / heads. Phi-3 and
    /// Phi-4-mini fuse the projections (and may rotate only part of each head, with LongRoPE). Gemma 2 and Gemma 3 (text)
    /// use Gemma's block, GeGLU and interleaved sliding-window/global layers; Gemma 3 adds q/k norms and a local RoPE base,
    /// and its multimodal checkpoints (Gemma3ForConditionalGeneration) are served as their text model.
    /// </summary>
    public static readonly IReadOnlyList<Architecture> Architectures =
    [
        new("LlamaForCausalLM", ["llama"]),
        new("MistralForCausalLM", ["mistral"]),
        new("Qwen2ForCausalLM", ["qwen2"]) { QkvBias = true, Windows = WindowedLayers.FromMaxWindowLayers, SlidingWindowNeedsFlag = true },
        new("Qwen3ForCausalLM", ["qwen3"]) { QkNorm = true, Windows = WindowedLayers.FromMaxWindowLayers, SlidingWindowNeedsFlag = true },
        new("Phi3ForCausalLM", ["phi3"]) { FusedProjections = true },
        new("Gemma2ForCausalLM", ["gemma2"])
        {
            GemmaBlock = true, Activation = "gelu_pytorch_tanh", TiedByDefault = true, Windows = WindowedLayers.AllButEveryNth,
            DefaultWindowPattern = 2, DefaultSlidingWindow = 4096, DefaultAttnLogitSoftcapping = 50.0, DefaultFinalLogitSoftcapping = 30.0,
        },
        new("Gemma3ForCausalLM", ["gemma3_text"])
        {
            GemmaBlock = true, QkNorm = true, Activation = "gelu_pytorch_tanh", TiedByDefault = true, Windows = WindowedLayers.AllButEveryNth,
            DefaultWindowPattern = 6, DefaultSlidingWindow = 4096, LocalRopeBase = true, DimensionDefaults = Gemma3TextDimensions, DefaultBosTokenId = 2,
        },
        // gemma-3-4b/12b/27b-it: the same text model under language_model. (transformers 4.50's layout) or
        // model.language_model. (4.52 on), beside a SigLIP vision tower; the text model is served, images are not.
        new("Gemma3ForConditionalGeneration", ["gemma3"])
        {
            GemmaBlock = true, QkNorm = true, Activation = "gelu_pytorch_tanh", TiedByDefault = true, Windows = WindowedLayers.AllButEveryNth,
            DefaultWindowPattern = 6, DefaultSlidingWindow = 4096, LocalRopeBase = true, DimensionDefaults = Gemma3TextDimensions, DefaultBosTokenId = 2,
            TextConfigKey = "text_config",
            TensorPrefixes = [("language_model.model.", "model."), ("language_model.lm_head.", "lm_head."), ("model.language_model.", "model.")],
            IgnoredTensorPrefixes = ["vision_tower.", "multi_modal_projector.", "model.vision_tower.", "model.multi_modal_projector."],
        },
    ];

    /// <summary>Architectures people ask for that the runtime does not serve, with what to tell them.</summary>
    public static readonly IReadOnlyDictionary<string, string> KnownUnsupported = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["Qwen3MoeForCausalLM"] = "mixture-of-experts layers are not implemented",
    };

    /// <summary>rope_scaling types, by rope_type (or the older "type"); "default" means none, "su" is LongRoPE's old name.</summary>
    public static readonly IReadOnlyList<string> RopeScalingTypes = ["default", "linear", "dynamic", "llama3", "longrope", "su"];

    /// <summary>Boolean config keys the runtime does not implement when true, with what to tell the user.</summary>
    public static readonly IReadOnlyDictionary<string, string> UnsupportedWhenTrue = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        // Qwen2's q/k/v biases come with the architecture, not from this key; attention_bias adds an o_proj bias too.
        ["attention_bias"] = "the runtime's attention has no o_proj bias (q/k/v biases only with Qwen2ForCausalLM)",
        ["mlp_bias"] = "the runtime's Llama MLP has no biases",
        ["lm_head_bias"] = "the runtime's language-model head has no bias",
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
