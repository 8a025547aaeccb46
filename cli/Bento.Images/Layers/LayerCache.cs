using System.Text.Json;
using System.Text.Json.Serialization;
using Bento.Core.IO;
using Bento.Core.Store;
using Bento.Images.Oci;

namespace Bento.Images.Layers;

/// <summary>What the cache remembers about a layer: its descriptor, its diff_id, and for streamed (uncompressed)
/// layers the identities of the source files as they were when the digest was computed.</summary>
public sealed record CachedLayer(
    [property: JsonPropertyName("media_type")] string MediaType,
    [property: JsonPropertyName("digest")] string Digest,
    [property: JsonPropertyName("size")] long Size,
    [property: JsonPropertyName("diff_id")] string DiffId,
    [property: JsonPropertyName("sources")] List<SourceIdentity>? Sources);

/// <summary>A source file's identity (git-index style): if size, mtime, inode and device are unchanged, so is its content.</summary>
public sealed record SourceIdentity(
    [property: JsonPropertyName("size")] long Size,
    [property: JsonPropertyName("mtime_ns")] long MtimeNs,
    [property: JsonPropertyName("inode")] ulong Inode,
    [property: JsonPropertyName("device")] ulong Device)
{
    public static SourceIdentity Of(string path)
    {
        var id = Posix.Identify(path);
        return new SourceIdentity(id.Size, id.MtimeNs, id.Inode, id.Device);
    }
}

/// <summary>
/// Layer digests computed before, in the store (<c>$BENTO_HOME/cache/layers/</c>):
/// <code>
///   entries/KEY.json      KEY = sha256 of the layer recipe (writer version, compression, mtime, every entry with its
///                         mode, size and content sha256) -> media type, digest, size, diff_id
///   blobs/sha256/HEX      compressed layers (kept: recompressing costs time and depends on the zlib version)
/// </code>
/// Uncompressed layers (model weights) are not stored: their tar is re-streamed byte-identically from the bento's files
/// when a sink needs it, so the cache costs kilobytes, not gigabytes. A damaged entry is ignored, never trusted.
/// </summary>
public sealed class LayerCache
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = false };

    public LayerCache(string root)
    {
        Root = Path.GetFullPath(root);
    }

    public string Root { get; }

    public static LayerCache ForStore(BentoStore store) => new(Path.Combine(store.CacheDirectory, "layers"));

    private string EntryPath(string key) => Path.Combine(Root, "entries", key + ".json");

    public string BlobPath(string digest) => Path.Combine(Root, "blobs", "sha256", OciDigest.Hex(digest));

    public CachedLayer? Lookup(string key)
    {
        try
        {
            var path = EntryPath(key);
            if (!File.Exists(path)) return null;
            var entry = JsonSerializer.Deserialize<CachedLayer>(File.ReadAllBytes(path), Json);
            if (entry is null || !OciDigest.IsSha256(entry.Digest) || !OciDigest.IsSha256(entry.DiffId) || entry.Size < 0) return null;
            if (entry.MediaType != MediaTypes.OciLayer)
            {
                // Stored blob: it must still be there with the right size (its digest is checked whenever it is read).
                var blob = new FileInfo(BlobPath(entry.Digest));
                if (!blob.Exists || blob.Length != entry.Size) return null;
            }
            return entry;
        }
        catch (Exception e) when (e is JsonException or IOException or UnauthorizedAccessException or NotSupportedException)
        {
            return null;
        }
    }

    public async Task RememberAsync(string key, CachedLayer entry, CancellationToken ct)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(EntryPath(key))!);
        await AtomicFile.WriteAllTextAsync(EntryPath(key), JsonSerializer.Serialize(entry, Json), ct);
    }

    /// <summary>A temp file next to the blobs (same file system, so the final rename is atomic).</summary>
    public string NewTempBlobPath()
    {
        var dir = Path.Combine(Root, "blobs", "tmp");
        Directory.CreateDirectory(dir);
        return Path.Combine(dir, $"{Environment.ProcessId}-{Guid.NewGuid():N}");
    }

    /// <summary>Moves a finished temp blob to its digest's place (another process may have put it there first).</summary>
    public void CommitBlob(string tempPath, string digest)
    {
        var target = BlobPath(digest);
        Directory.CreateDirectory(Path.GetDirectoryName(target)!);
        File.Move(tempPath, target, overwrite: true);
    }
}
