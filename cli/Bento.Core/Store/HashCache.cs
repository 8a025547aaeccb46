using System.Collections.Concurrent;
using System.Text.Json;
using Bento.Core.IO;

namespace Bento.Core.Store;

/// <summary>
/// Remembers the sha256 of files by path, keyed like git's index on size, mtime, inode and device (not ctime: hard-linking
/// a source file into the store changes its ctime, and that must not invalidate the entry): if none
/// changed, the content did not, so a rebuild after a config-only edit re-hashes no weight. A damaged cache is
/// discarded, never trusted. Builds running side by side each save what they learnt: saving merges with what is on
/// disk under a lock of its own, so neither loses the other's entries.
/// </summary>
public sealed class HashCache
{
    private sealed record Entry(long Size, long MtimeNs, ulong Inode, ulong Device, string Sha256);

    private readonly string _path;
    private readonly ConcurrentDictionary<string, Entry> _entries;
    /// <summary>Entries this process learnt; what it saves over the file's.</summary>
    private readonly ConcurrentDictionary<string, Entry> _learnt = new(StringComparer.Ordinal);

    private HashCache(string path, ConcurrentDictionary<string, Entry> entries) => (_path, _entries) = (path, entries);

    public static HashCache Load(string path) => new(path, Read(path));

    private static ConcurrentDictionary<string, Entry> Read(string path)
    {
        var entries = new ConcurrentDictionary<string, Entry>(StringComparer.Ordinal);
        try
        {
            if (File.Exists(path))
            {
                var loaded = JsonSerializer.Deserialize<Dictionary<string, Entry>>(File.ReadAllBytes(path));
                if (loaded is not null) foreach (var (k, v) in loaded) if (v?.Sha256 is { Length: 64 }) entries[k] = v;
            }
        }
        catch (Exception e) when (e is JsonException or IOException or UnauthorizedAccessException or NotSupportedException) { entries.Clear(); }
        return entries;
    }

    public string? Lookup(string fullPath, FileIdentity id) =>
        _entries.TryGetValue(fullPath, out var e) && e.Size == id.Size && e.MtimeNs == id.MtimeNs &&
        e.Inode == id.Inode && e.Device == id.Device ? e.Sha256 : null;

    public void Remember(string fullPath, FileIdentity id, string sha256)
    {
        var entry = new Entry(id.Size, id.MtimeNs, id.Inode, id.Device, sha256);
        _entries[fullPath] = entry;
        _learnt[fullPath] = entry;
    }

    /// <summary>
    /// Saves what this process learnt, merged into the cache file as it is now (another build may have saved since
    /// this one loaded it); drops entries whose file is gone so the cache does not grow forever.
    /// </summary>
    public async Task SaveAsync(CancellationToken ct = default)
    {
        if (_learnt.IsEmpty) return;
        Directory.CreateDirectory(Path.GetDirectoryName(_path)!);
        using (await StoreLock.AcquireAsync(_path + ".lock", timeout: TimeSpan.FromSeconds(30), ct: ct))
        {
            var merged = Read(_path);
            foreach (var (key, entry) in _learnt) merged[key] = entry;
            foreach (var key in merged.Keys) if (!File.Exists(key)) merged.TryRemove(key, out _);
            await AtomicFile.WriteAllTextAsync(_path, JsonSerializer.Serialize(new SortedDictionary<string, Entry>(merged, StringComparer.Ordinal)), ct);
            foreach (var (key, entry) in merged) _entries[key] = entry;
        }
        _learnt.Clear();
    }
}
