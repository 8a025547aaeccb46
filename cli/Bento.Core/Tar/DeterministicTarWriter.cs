using System.Formats.Tar;

namespace Bento.Core.Tar;

/// <summary>
/// The one owner of tar determinism, for every tar BentoBuilder writes (.bento archives, image layers, docker
/// archives): the same entries in the same order give the same bytes, on any machine, in any process, at any time.
/// <list type="bullet">
/// <item>PAX format (System.Formats.Tar), so files over 8 GiB and long or non-ASCII names are exact;</item>
/// <item>one mtime for every entry, in whole seconds (a fraction would be recorded in the PAX header), no atime/ctime;</item>
/// <item>uid/gid 0, empty user and group names, and modes fixed by kind (<see cref="DirectoryMode"/>,
///   <see cref="FileMode"/>, <see cref="ExecutableMode"/>, <see cref="LinkMode"/>): callers cannot pass their own;</item>
/// <item>.NET's per-process PAX header names (PaxHeaders.&lt;pid&gt;) rewritten to PaxHeaders.0 (<see cref="PaxHeaderNormalizer"/>).</item>
/// </list>
/// The order of entries is the caller's: it must be a function of the content (sorted paths, manifest first).
/// </summary>
public sealed class DeterministicTarWriter : IAsyncDisposable
{
    public const int DirectoryMode = 0b111_101_101; // 0755
    public const int FileMode = 0b110_100_100;      // 0644
    public const int ExecutableMode = 0b111_101_101; // 0755
    public const int LinkMode = 0b111_111_111;      // 0777

    private readonly PaxHeaderNormalizer _filter;
    private readonly TarWriter _writer;
    private readonly DateTimeOffset _mtime;
    private bool _disposed;

    /// <param name="output">Left open; everything is flushed to it on dispose.</param>
    /// <param name="mtime">The modification time of every entry (truncated to whole seconds).</param>
    public DeterministicTarWriter(Stream output, DateTimeOffset mtime)
    {
        _mtime = DateTimeOffset.FromUnixTimeSeconds(mtime.ToUnixTimeSeconds());
        _filter = new PaxHeaderNormalizer(output);
        _writer = new TarWriter(_filter, TarEntryFormat.Pax, leaveOpen: true);
    }

    /// <summary>A directory entry (a trailing '/' is added when missing, as tar tools write them).</summary>
    public Task WriteDirectoryAsync(string path, CancellationToken ct) =>
        _writer.WriteEntryAsync(NewEntry(TarEntryType.Directory, path.EndsWith('/') ? path : path + "/", DirectoryMode), ct);

    /// <summary>A regular file whose bytes are streamed from <paramref name="data"/> (which must know its length).</summary>
    public Task WriteFileAsync(string path, Stream data, bool executable, CancellationToken ct)
    {
        var entry = NewEntry(TarEntryType.RegularFile, path, executable ? ExecutableMode : FileMode);
        entry.DataStream = data;
        return _writer.WriteEntryAsync(entry, ct);
    }

    public Task WriteSymlinkAsync(string path, string target, CancellationToken ct)
    {
        var entry = NewEntry(TarEntryType.SymbolicLink, path, LinkMode);
        entry.LinkName = target;
        return _writer.WriteEntryAsync(entry, ct);
    }

    private PaxTarEntry NewEntry(TarEntryType type, string name, int mode) => new(type, name)
    {
        ModificationTime = _mtime,
        Mode = (UnixFileMode)mode,
        Uid = 0,
        Gid = 0,
        UserName = "",
        GroupName = "",
    };

    /// <summary>Writes the end-of-archive blocks and flushes them to the output.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_disposed) return;
        _disposed = true;
        await _writer.DisposeAsync();
        await _filter.FlushAsync(CancellationToken.None);
    }
}
