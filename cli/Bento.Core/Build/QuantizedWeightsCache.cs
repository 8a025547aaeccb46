using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Bento.Core.IO;
using Bento.Core.Model;
using Bento.Core.Store;

namespace Bento.Core.Build;

/// <summary>
/// Remembers which stored blobs a quantized build produced from which source files, so that building the same model
/// with the same <c>quantize</c> again (after a bentofile edit, say) neither quantizes nor hashes anything: the key is
/// the scheme, the quantizer's version and the identity (device, inode, size, mtime) of every source weight, config
/// and index file, as the hash cache keys files; a hit is used only while every blob still has the identity it had
/// when it was stored (a blob edited in place is never trusted). Lives in the store's cache/ (best effort: a damaged
/// file is discarded).
/// </summary>
public sealed class QuantizedWeightsCache
{
    /// <summary>Bump when the quantizer's output for the same input changes.</summary>
    public const int QuantizerVersion = 1;

    public sealed record Output(string RelativePath, string Sha256, long Size, long MtimeNs, ulong Inode, ulong Device);

    private readonly string _path;
    private readonly Dictionary<string, List<Output>> _entries;

    private QuantizedWeightsCache(string path, Dictionary<string, List<Output>> entries) => (_path, _entries) = (path, entries);

    public static QuantizedWeightsCache Load(BentoStore store)
    {
        var path = Path.Combine(store.CacheDirectory, "quantized.json");
        Dictionary<string, List<Output>>? entries = null;
        try
        {
            if (File.Exists(path)) entries = JsonSerializer.Deserialize<Dictionary<string, List<Output>>>(File.ReadAllBytes(path));
        }
        catch (Exception e) when (e is JsonException or IOException or UnauthorizedAccessException) { }
        return new QuantizedWeightsCache(path, entries ?? new Dictionary<string, List<Output>>(StringComparer.Ordinal));
    }

    /// <summary>The files of a model folder the quantizer rewrites.</summary>
    public static bool IsRewritten(ModelFile f) => f.Role is ModelFileRole.Weights or ModelFileRole.Config or ModelFileRole.WeightIndex;

    public static string Key(ModelFolder source, QuantizationScheme scheme)
    {
        var text = new StringBuilder($"quantizer {QuantizerVersion}\nscheme {scheme.Name}\n");
        foreach (var f in source.Files.Where(IsRewritten).OrderBy(f => f.RelativePath, StringComparer.Ordinal))
        {
            var id = Posix.Identify(FileLinks.Target(f.FullPath).FullName);
            text.Append($"{f.RelativePath}\t{id.Device}\t{id.Inode}\t{id.Size}\t{id.MtimeNs}\n");
        }
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())));
    }

    /// <summary>The blobs of a previous build with this key, by relative path; null unless every one is intact.</summary>
    public IReadOnlyList<(string RelativePath, string BlobPath)>? Lookup(string key, BentoStore store)
    {
        if (!_entries.TryGetValue(key, out var outputs)) return null;
        var found = new List<(string, string)>();
        foreach (var o in outputs)
        {
            var blob = store.BlobPath(o.Sha256);
            if (!File.Exists(blob)) return null;
            var id = Posix.Identify(blob);
            if (id.Size != o.Size || id.MtimeNs != o.MtimeNs || id.Inode != o.Inode || id.Device != o.Device) return null;
            found.Add((o.RelativePath, blob));
        }
        return found;
    }

    /// <summary>Records the stored outputs of a quantized build (and their blobs in the hash cache, so a later build that
    /// reuses them hashes nothing).</summary>
    public async Task RememberAsync(string key, IEnumerable<(string RelativePath, string Sha256)> outputs, BentoStore store, CancellationToken ct = default)
    {
        var hashes = store.LoadHashCache();
        var list = new List<Output>();
        foreach (var (relative, sha) in outputs)
        {
            var blob = store.BlobPath(sha);
            var id = Posix.Identify(blob);
            list.Add(new Output(relative, sha, id.Size, id.MtimeNs, id.Inode, id.Device));
            hashes.Remember(blob, id, sha);
        }
        _entries[key] = list;
        // Entries whose blobs are gone (their bentos deleted) are dropped so the file does not grow forever.
        foreach (var stale in _entries.Where(e => e.Value.Any(o => !File.Exists(store.BlobPath(o.Sha256)))).Select(e => e.Key).ToList())
            _entries.Remove(stale);
        Directory.CreateDirectory(Path.GetDirectoryName(_path)!);
        await AtomicFile.WriteAllTextAsync(_path, JsonSerializer.Serialize(new SortedDictionary<string, List<Output>>(_entries, StringComparer.Ordinal)), ct);
        await hashes.SaveAsync(ct);
    }
}
