using System.Text;

namespace Bento.ModelGen;

/// <summary>
/// 64-bit FNV-1a hash of a string's UTF-8 bytes.
/// </summary>
/// <remarks>
/// string.GetHashCode is randomized per process, so it cannot seed anything that must be reproducible;
/// this hash is a fixed function of the text.
/// </remarks>
public static class StableHash
{
    private const ulong OffsetBasis = 14695981039346656037UL;
    private const ulong Prime = 1099511628211UL;

    public static ulong Fnv1a64(string text)
    {
        var hash = OffsetBasis;
        foreach (var b in Encoding.UTF8.GetBytes(text))
        {
            hash ^= b;
            hash *= Prime;
        }
        return hash;
    }

    /// <summary>Seed for one tensor: the model seed mixed with the tensor's name, so every tensor gets
    /// its own independent stream and adding a tensor does not shift the values of the others.</summary>
    public static ulong TensorSeed(ulong modelSeed, string tensorName) =>
        Fnv1a64(tensorName) ^ (modelSeed * 0x9E3779B97F4A7C15UL);
}
