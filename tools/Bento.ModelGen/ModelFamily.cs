namespace Bento.ModelGen;

/// <summary>
/// The Llama-shaped Hugging Face families the generator writes. They share the Llama layout but for: Qwen2's q/k/v
/// projection biases; Qwen3's per-head q/k RMSNorm weights (and explicit head_dim); Phi-3's fused qkv_proj and
/// gate_up_proj; Gemma's extra pre/post-feed-forward norms (with (1 + w) weights, so they start at 0), and for Gemma 3
/// its q/k norms.
/// </summary>
public enum ModelFamily
{
    Llama,
    Qwen2,
    Qwen3,
    Phi3,
    Gemma2,
    Gemma3,
}

public static class ModelFamilyExtensions
{
    public static string ArchitectureName(this ModelFamily family) => family switch
    {
        ModelFamily.Llama => "LlamaForCausalLM",
        ModelFamily.Qwen2 => "Qwen2ForCausalLM",
        ModelFamily.Qwen3 => "Qwen3ForCausalLM",
        ModelFamily.Phi3 => "Phi3ForCausalLM",
        ModelFamily.Gemma2 => "Gemma2ForCausalLM",
        ModelFamily.Gemma3 => "Gemma3ForCausalLM",
        _ => throw new ArgumentOutOfRangeException(nameof(family), family, null),
    };

    /// <summary>config.json's model_type.</summary>
    public static string ModelType(this ModelFamily family) => family == ModelFamily.Gemma3 ? "gemma3_text" : family.CliName();

    /// <summary>The spelling on the command line (--family).</summary>
    public static string CliName(this ModelFamily family) => family.ToString().ToLowerInvariant();

    public static bool HasQkvBias(this ModelFamily family) => family == ModelFamily.Qwen2;

    public static bool HasQkNorm(this ModelFamily family) => family is ModelFamily.Qwen3 or ModelFamily.Gemma3;

    public static bool HasFusedProjections(this ModelFamily family) => family == ModelFamily.Phi3;

    /// <summary>Gemma's block: (1 + w) norms and pre_/post_feedforward_layernorm.</summary>
    public static bool IsGemma(this ModelFamily family) => family is ModelFamily.Gemma2 or ModelFamily.Gemma3;
}
