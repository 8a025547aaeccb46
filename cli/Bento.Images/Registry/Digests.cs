using System.Security.Cryptography;
using Bento.Images.Oci;

namespace Bento.Images.Registry;

/// <summary>Content digests (<c>sha256:HEX</c>, also <c>sha512:HEX</c> when a registry uses it).</summary>
public static class Digests
{
    public static string Sha256(ReadOnlySpan<byte> bytes) => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(bytes));

    /// <summary>The incremental hash matching the digest's algorithm; unknown algorithms are an error naming the digest.</summary>
    internal static IncrementalHash HasherFor(string digest)
    {
        if (digest.StartsWith("sha256:", StringComparison.Ordinal)) return IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        if (digest.StartsWith("sha512:", StringComparison.Ordinal)) return IncrementalHash.CreateHash(HashAlgorithmName.SHA512);
        throw new RegistryException($"unsupported digest algorithm in '{digest}' (sha256 and sha512 are supported)");
    }

    internal static string Algorithm(string digest) => digest[..digest.IndexOf(':')];

    internal static string Hex(string digest) => digest[(digest.IndexOf(':') + 1)..];

    /// <summary>The digest of <paramref name="bytes"/> computed with <paramref name="like"/>'s algorithm.</summary>
    internal static string Compute(byte[] bytes, string like)
    {
        using var hash = HasherFor(like);
        hash.AppendData(bytes);
        return $"{Algorithm(like)}:{Convert.ToHexStringLower(hash.GetHashAndReset())}";
    }

    /// <summary>"sha256:0123456789ab" for progress lines.</summary>
    public static string Short(string digest) => digest.Length > 19 ? digest[..19] : digest;
}

/// <summary>A blob held in memory (config and manifest JSON: a few KiB).</summary>
public sealed class BytesBlob(Descriptor descriptor, byte[] bytes) : IBlob
{
    public Descriptor Descriptor { get; } = descriptor;

    public Task<Stream> OpenReadAsync(CancellationToken ct) => Task.FromResult<Stream>(new MemoryStream(bytes, writable: false));
}

/// <summary>
/// A blob known to exist in a registry repository (it was pulled from there). Pushing it to another repository of
/// the same registry mounts it instead of uploading it.
/// </summary>
public interface IBlobOrigin
{
    string Registry { get; }
    string Repository { get; }
}

/// <summary>
/// A blob in the local pull cache; it remembers where it was pulled from. It was verified when it was downloaded, but
/// the cache trusts a file of the right size, so every read checks size and digest again as the bytes go by (sha256):
/// a cached copy damaged since then is an error naming the file, never bytes copied into an image or pushed.
/// </summary>
public sealed class CachedBlob(Descriptor descriptor, string path, string registry, string repository) : ISelfVerifyingBlob, IBlobOrigin
{
    public Descriptor Descriptor { get; } = descriptor;
    public string Path { get; } = path;
    public string Registry { get; } = registry;
    public string Repository { get; } = repository;

    public Task<Stream> OpenReadAsync(CancellationToken ct)
    {
        Stream file;
        try
        {
            file = new FileStream(Path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new RegistryException($"blob {Descriptor.Digest} of {Registry}/{Repository} is no longer in the image cache ({Path}); run the command again to download it");
        }
        // Only sha256 can be checked while streaming; other digests were verified when downloaded.
        if (!Descriptor.Digest.StartsWith("sha256:", StringComparison.Ordinal)) return Task.FromResult(file);
        return Task.FromResult<Stream>(new VerifyingReadStream(file, Descriptor,
            $"the image cache's copy {Path} of {Registry}/{Repository}, damaged since it was downloaded; delete it and run the command again to download it"));
    }
}
