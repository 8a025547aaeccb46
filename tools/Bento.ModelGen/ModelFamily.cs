namespace Bento.ModelGen;

/// <summary>
/// The Llama-shaped Hugging Face families the generator writes. They share every tensor but these: Qwen2 adds
/// q/k/v projection biases, Qwen3 adds per-head q/k RMSNorm weights (and writes head_dim explicitly, since it may
/// differ from hidden_size / heads).
/// </summary>
public enum ModelFamily
{
    Llama,
    Qwen2,
    Qwen3,
}

public static class ModelFamilyExtensions
{
    public static string ArchitectureName(this ModelFamily family) => family switch
    {
        ModelFamily.Llama => "LlamaForCausalLM",
        ModelFamily.Qwen2 => "Qwen2ForCausalLM",
        ModelFamily.Qwen3 => "Qwen3ForCausalLM",
        _ => throw new ArgumentOutOfRangeException(nameof(family), family, null),
    };

    /// <summary>config.json's model_type (also the spelling on the command line).</summary>
    public static string ModelType(this ModelFamily family) => family.ToString().ToLowerInvariant();

    public static bool HasQkvBias(this ModelFamily family) => family == ModelFamily.Qwen2;

    public static bool HasQkNorm(this ModelFamily family) => family == ModelFamily.Qwen3;
}
