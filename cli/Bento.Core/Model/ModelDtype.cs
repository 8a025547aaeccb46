namespace Bento.Core.Model;

/// <summary>
/// The one dtype table: the weight and activation dtypes the runtime computes in, with their canonical names (what
/// manifests, logs and /health say), the spellings other tools use (torch, vLLM, llama.cpp users), their safetensors
/// codes and sizes. The bentofile, the serve-time settings, config.json's torch_dtype, the weight-file check and the
/// runtime all read it, so a spelling accepted in one place is accepted everywhere.
/// </summary>
public sealed record ModelDtype(string Name, string Safetensors, int Bytes, IReadOnlyList<string> Aliases)
{
    public static readonly ModelDtype Float32 = new("float32", "F32", 4, ["float", "fp32"]);
    public static readonly ModelDtype Float16 = new("float16", "F16", 2, ["half", "fp16"]);
    public static readonly ModelDtype BFloat16 = new("bfloat16", "BF16", 2, ["bf16"]);

    public static readonly IReadOnlyList<ModelDtype> All = [Float32, Float16, BFloat16];

    /// <summary>The setting value meaning "the checkpoint's dtype" (config.json's torch_dtype, else float32).</summary>
    public const string Auto = "auto";

    /// <summary>For error messages: what a dtype setting accepts.</summary>
    public static string Choices =>
        $"use {Auto}, {string.Join(", ", All.Select(d => d.Name))} (or the aliases {string.Join(", ", All.SelectMany(d => d.Aliases))})";

    /// <summary>A dtype by its name or an alias, in any case; null when unknown.</summary>
    public static ModelDtype? Find(string text)
    {
        var t = text.Trim();
        return All.FirstOrDefault(d => d.Name.Equals(t, StringComparison.OrdinalIgnoreCase) ||
                                       d.Aliases.Any(a => a.Equals(t, StringComparison.OrdinalIgnoreCase)));
    }

    /// <summary>A setting's value made canonical: <see cref="Auto"/> or a dtype's <see cref="Name"/>; null when unknown.</summary>
    public static string? CanonicalSetting(string text) =>
        text.Trim().Equals(Auto, StringComparison.OrdinalIgnoreCase) ? Auto : Find(text)?.Name;

    public static ModelDtype? FromSafetensors(string code) => All.FirstOrDefault(d => d.Safetensors == code);

    /// <summary>
    /// The dtype a start computes in: the setting, or for <see cref="Auto"/> the checkpoint's torch_dtype, else float32
    /// (what transformers does for a config that does not say).
    /// </summary>
    public static ModelDtype Resolve(string setting, ModelDtype? checkpoint) =>
        CanonicalSetting(setting) is { } name && name != Auto ? Find(name)! : checkpoint ?? Float32;

    /// <summary>
    /// The dtype activations and the KV cache use for weights of <paramref name="weights"/>: float32 on a CPU (the
    /// runtime's decode kernels widen bfloat16/float16/int8 weights to float32 as they read them; see
    /// EagerModelRunner), the weights' own dtype on a GPU. The memory plan and the runtime both ask here.
    /// </summary>
    public static ModelDtype Activation(bool onCpu, ModelDtype weights) => onCpu ? Float32 : weights;

    public override string ToString() => Name;
}
