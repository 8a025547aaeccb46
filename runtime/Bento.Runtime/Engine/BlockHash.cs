using System.Buffers.Binary;
using System.Security.Cryptography;

namespace Bento.Runtime.Engine;

/// <summary>
/// The identity of a full KV-cache block for prefix caching (vLLM's chained block hash): the hash of the previous
/// block's hash and this block's token ids, so equal hashes mean equal token prefixes up to and including the block,
/// and a block's keys and values (which depend on every earlier token) can be shared. SHA-256 truncated to 128 bits:
/// a collision would silently serve another prompt's cache, so a fast 64-bit hash is not good enough.
/// </summary>
public readonly record struct BlockHash(UInt128 Value)
{
    /// <summary>The hash of a block holding <paramref name="tokens"/> after the blocks ending in <paramref name="parent"/>
    /// (null for the first block).</summary>
    public static BlockHash Of(BlockHash? parent, ReadOnlySpan<int> tokens)
    {
        Span<byte> input = stackalloc byte[17 + 4 * tokens.Length];
        input[0] = parent is null ? (byte)0 : (byte)1;
        BinaryPrimitives.WriteUInt128LittleEndian(input[1..], parent?.Value ?? UInt128.Zero);
        for (var i = 0; i < tokens.Length; i++)
            BinaryPrimitives.WriteInt32LittleEndian(input[(17 + 4 * i)..], tokens[i]);
        Span<byte> digest = stackalloc byte[32];
        SHA256.HashData(input, digest);
        return new BlockHash(BinaryPrimitives.ReadUInt128LittleEndian(digest));
    }

    public override string ToString() => Value.ToString("x32");
}
