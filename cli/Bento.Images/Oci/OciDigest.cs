using System.Security.Cryptography;
using System.Text.RegularExpressions;

namespace Bento.Images.Oci;

/// <summary>OCI digests: only <c>sha256:</c> followed by 64 lowercase hex digits is produced or accepted here.</summary>
public static partial class OciDigest
{
    public const string Sha256Prefix = "sha256:";

    [GeneratedRegex("^sha256:[0-9a-f]{64}$")]
    private static partial Regex Sha256Pattern();

    public static bool IsSha256(string? digest) => digest is not null && Sha256Pattern().IsMatch(digest);

    public static string Of(ReadOnlySpan<byte> data) => Sha256Prefix + Convert.ToHexStringLower(SHA256.HashData(data));

    public static string FromHash(byte[] hash) => Sha256Prefix + Convert.ToHexStringLower(hash);

    public static string FromHex(string hex) => Sha256Prefix + hex;

    /// <summary>The 64 hex digits of a validated sha256 digest (the file name under blobs/sha256/).</summary>
    public static string Hex(string digest)
    {
        if (!IsSha256(digest)) throw new Bento.Core.BentoException($"unsupported or malformed digest '{digest}' (expected sha256:<64 lowercase hex digits>)");
        return digest[Sha256Prefix.Length..];
    }

    /// <summary>The short form people read in logs: the first 12 hex digits.</summary>
    public static string Short(string digest) => IsSha256(digest) ? digest[Sha256Prefix.Length..(Sha256Prefix.Length + 12)] : digest;
}
