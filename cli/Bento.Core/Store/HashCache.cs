using System.Collections.Concurrent;
using System.Text.Json;
using Bento.Core.IO;

namespace Bento.Core.Store;

/// <summary>
/// Remembers the sha256 of files by path, keyed like git's index on size, mtime, inode and device (not ctime: hard-linking
/// a source file into the store changes its ctime, and that must not invalidate the entry): if none
/// changed, the content did not, so a rebuild after a config-only edit re-hashes no weight. A damaged cache is
/// discarded, never trusted.
/// </summary>
public sealed class HashCache
{
    private sealed record Entry(long Size, long MtimeNs, ulong Inode, ulong Device, string Sha256);

    private readonly string _path;
    private readonly ConcurrentDictionary<string, Entry> _entries;
    private bool _dirty;

    private HashCache(string path, ConcurrentDictionary<string, Entry> entries) => (_path, _entries) = (path, entries);

    public static HashCache Load(string path)
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
        catch (Exception e) when (e is JsonException or IOException or UnauthorizedAccessException) { entries.Clear(); }
        return new HashCache(path, entries);
    }

    public string? Lookup(string fullPath, FileIdentity id) =>
        _entries.TryGetValue(fullPath, out var e) && e.Size == id.Size && e.MtimeNs == id.MtimeNs &&
        e.Inode == id.Inode && e.Device == id.Device ? e.Sha256 : null;

    public void Remember(string fullPath, FileIdentity id, string sha256)
    {
        _entries[fullPath] = new Entry(id.Size, id.MtimeNs, id.Inode, id.Device, sha256);
        _dirty = true;
    }

    /// <summary>Saves the cache; drops entries whose file is gone so the cache does not grow forever.</summary>
    public async Task SaveAsync(CancellationToken ct = default)
    {
        if (!_dirty) return;
        foreach (var key in _entries.Keys) if (!File.Exists(key)) _entries.TryRemove(key, out _);
        Directory.CreateDirectory(Path.GetDirectoryName(_path)!);
        await AtomicFile.WriteAllTextAsync(_path, JsonSerializer.Serialize(new SortedDictionary<string, Entry>(_entries, StringComparer.Ordinal)), ct);
        _dirty = false;
    }
}
