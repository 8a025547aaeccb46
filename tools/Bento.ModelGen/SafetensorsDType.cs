namespace Bento.ModelGen;

/// <summary>
/// The safetensors dtype tags this generator writes, and how they map to torch dtype names and sizes.
/// </summary>
public static class SafetensorsDType
{
    public const string F32 = "F32";
    public const string F16 = "F16";
    public const string BF16 = "BF16";

    /// <summary>Bytes per element of a dtype tag.</summary>
    public static int ElementSize(string dtype) => dtype switch
    {
        F32 => 4,
        F16 or BF16 => 2,
        _ => throw new ArgumentException($"unsupported safetensors dtype '{dtype}' (expected F32, F16 or BF16)", nameof(dtype)),
    };

    /// <summary>"float32" -> "F32", "float16" -> "F16", "bfloat16" -> "BF16".</summary>
    public static string FromTorchDtype(string torchDtype) => torchDtype switch
    {
        "float32" => F32,
        "float16" => F16,
        "bfloat16" => BF16,
        _ => throw new ArgumentException($"unsupported torch_dtype '{torchDtype}' (expected float32, float16 or bfloat16)", nameof(torchDtype)),
    };
}
