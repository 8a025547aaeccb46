using System.Formats.Tar;
using Bento.Core.Manifest;
using Bento.Core.Store;
using ZstdSharp;

namespace Bento.Core.Archive;

/// <summary>
/// The <c>.bento</c> file: a zstd-compressed PAX tar whose first entry is <c>bento.yaml</c>, followed by every file the
/// manifest lists (sorted, regular files only, fixed owner/mode/mtime). Because the manifest comes first and carries
/// every file's sha256 — and the manifest is checked against its own content-derived version — an importer can verify
/// everything while streaming, before anything is committed.
/// </summary>
public static class BentoArchive
{
    public const string Extension = ".bento";
    private const int CompressionLevel = 3;

    public static async Task ExportAsync(StoredBento bento, string destination, CancellationToken ct = default)
    {
        var full = Path.GetFullPath(destination);
        var directory = Path.GetDirectoryName(full)!;
        if (!Directory.Exists(directory)) throw new BentoException($"cannot export to '{destination}': directory '{directory}' does not exist");
        var temp = $"{full}.tmp-{Environment.ProcessId}";
        try
        {
            await using (var file = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20, FileOptions.Asynchronous))
            {
                await using (var zstd = new CompressionStream(file, CompressionLevel, leaveOpen: true))
                await using (var tar = new TarWriter(zstd, TarEntryFormat.Pax, leaveOpen: true))
                {
                    var mtime = bento.Manifest.Created;
                    await WriteEntryAsync(tar, BentoManifest.FileName, Path.Combine(bento.Directory, BentoManifest.FileName), mtime, ct);
                    foreach (var (bentoPath, _) in bento.Manifest.AllFiles().OrderBy(f => f.BentoPath, StringComparer.Ordinal))
                        await WriteEntryAsync(tar, bentoPath, bento.FilePath(bentoPath), mtime, ct);
                }
                await file.FlushAsync(ct);
                file.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            IO.AtomicFile.TryDelete(temp);
            throw new BentoException($"cannot write '{destination}': {e.Message}", e);
        }
        catch
        {
            IO.AtomicFile.TryDelete(temp);
            throw;
        }
    }

    private static async Task WriteEntryAsync(TarWriter tar, string name, string source, DateTimeOffset mtime, CancellationToken ct)
    {
        await using var data = new FileStream(source, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.SequentialScan | FileOptions.Asynchronous);
        var entry = new PaxTarEntry(TarEntryType.RegularFile, name)
        {
            ModificationTime = mtime,
            Mode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead,
            Uid = 0,
            Gid = 0,
            DataStream = data,
        };
        await tar.WriteEntryAsync(entry, ct);
    }

    /// <summary>
    /// Imports a .bento: every entry's name, type, size and sha256 are checked against the manifest while it streams
    /// into a private work directory; only a fully verified bento is committed. Returns the stored bento and whether
    /// it was new.
    /// </summary>
    public static async Task<(StoredBento Bento, bool Created)> ImportAsync(BentoStore store, string source, Action<string>? onWait = null, CancellationToken ct = default)
    {
        var display = Spec.BentofileParser.DisplayPath(source);
        if (!File.Exists(source)) throw new BentoException($"{display}: no such file");
        IO.InputFile.RequireRegular(source);
        store.EnsureCreated();
        var work = store.CreateTempDirectory("import");
        try
        {
            var (manifest, staged) = await ReadAndVerifyAsync(display, source, work, ct);
            using var storeLock = await store.LockAsync(onWait, ct);
            store.RemoveStaleTempDirectories();
            if (store.Exists(manifest.Name, manifest.Version))
            {
                await store.WriteLatestAsync(manifest.Name, manifest.Version, ct);
                return (store.Resolve(new BentoTag(manifest.Name, manifest.Version)), false);
            }
            var added = new List<string>();
            var committed = false;
            try
            {
                foreach (var (bentoPath, file) in manifest.AllFiles())
                {
                    var blob = store.BlobPath(file.Sha256);
                    if (File.Exists(blob) && new FileInfo(blob).Length == file.Size) continue;
                    File.Move(staged[bentoPath], blob, overwrite: true);
                    added.Add(file.Sha256);
                }
                var created = await store.AssembleAndCommitAsync(work, manifest, ct);
                committed = true;
                return (store.Resolve(new BentoTag(manifest.Name, manifest.Version)), created);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw store.StoreError($"import {manifest.Tag}", e);
            }
            finally
            {
                if (!committed)
                {
                    var referenced = store.ReferencedBlobs();
                    foreach (var sha in added.Where(s => !referenced.Contains(s))) IO.AtomicFile.TryDelete(store.BlobPath(sha));
                }
            }
        }
        finally
        {
            BentoStore.TryDeleteDirectory(work);
        }
    }

    private static async Task<(BentoManifest Manifest, Dictionary<string, string> Staged)> ReadAndVerifyAsync(
        string display, string source, string work, CancellationToken ct)
    {
        var staged = new Dictionary<string, string>(StringComparer.Ordinal);
        BentoManifest? manifest = null;
        Dictionary<string, ManifestFile>? expected = null;
        try
        {
            await using var file = new FileStream(source, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.SequentialScan | FileOptions.Asynchronous);
            await using var zstd = new DecompressionStream(file);
            // TarReader holds metadata entries whole in memory: the guard refuses oversized ones before it sees them.
            await using var tar = new TarReader(new TarMetadataGuard(zstd, display));
            TarEntry? entry;
            while ((entry = await tar.GetNextEntryAsync(copyData: false, ct)) is not null)
            {
                var name = entry.Name.StartsWith("./", StringComparison.Ordinal) ? entry.Name[2..] : entry.Name;
                if (entry.EntryType is TarEntryType.Directory) { CheckName(display, name.TrimEnd('/')); continue; }
                if (entry.EntryType is not (TarEntryType.RegularFile or TarEntryType.V7RegularFile))
                    throw Corrupt(display, $"entry '{entry.Name}' is a {Describe(entry.EntryType)}; a .bento holds only regular files");
                CheckName(display, name);

                if (manifest is null)
                {
                    if (name != BentoManifest.FileName) throw Corrupt(display, $"the first entry is '{name}', expected {BentoManifest.FileName}");
                    if (entry.Length > InputLimits.YamlBytes.Value)
                        throw Corrupt(display, $"{BentoManifest.FileName} is {InputLimits.Bytes(entry.Length)} ({entry.Length} bytes), over the {InputLimits.YamlBytes.Size} " +
                                               $"limit for a manifest ({InputLimits.YamlBytes.RaiseHint} if the archive is genuine)");
                    using var reader = new StreamReader(entry.DataStream ?? Stream.Null);
                    manifest = ManifestSerializer.FromYaml(await reader.ReadToEndAsync(ct), $"{display}:{BentoManifest.FileName}");
                    if (!ManifestVersion.Matches(manifest))
                        throw Corrupt(display, $"{BentoManifest.FileName} does not match its version {manifest.Version} (the manifest was altered)");
                    expected = manifest.AllFiles().ToDictionary(f => f.BentoPath, f => f.File, StringComparer.Ordinal);
                    continue;
                }

                if (!expected!.TryGetValue(name, out var want)) throw Corrupt(display, $"entry '{name}' is not listed in {BentoManifest.FileName}");
                if (staged.ContainsKey(name)) throw Corrupt(display, $"entry '{name}' appears twice");
                if (entry.Length != want.Size) throw Corrupt(display, $"'{name}' is {entry.Length} bytes but the manifest says {want.Size}");
                var target = Path.Combine(work, "staged-" + staged.Count);
                var sha = await HashingCopy.CopyAsync(entry.DataStream ?? Stream.Null, target, ct);
                if (sha != want.Sha256) throw Corrupt(display, $"'{name}' has sha256 {sha} but the manifest says {want.Sha256} (tampered or corrupt)");
                staged[name] = target;
            }
        }
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException or ZstdException or FormatException)
        {
            throw Corrupt(display, $"truncated or not a .bento archive ({e.Message.TrimEnd('.')})");
        }
        catch (IOException e) when (e.GetType() == typeof(IOException) && e.HResult is not (IO.Posix.ENOSPC or IO.Posix.EACCES or IO.Posix.EROFS))
        {
            throw Corrupt(display, $"truncated or unreadable ({e.Message.TrimEnd('.')})");
        }
        if (manifest is null) throw Corrupt(display, "empty archive: no bento.yaml");
        var missing = expected!.Keys.FirstOrDefault(k => !staged.ContainsKey(k));
        if (missing is not null) throw Corrupt(display, $"'{missing}' is missing (truncated archive?)");
        return (manifest, staged);
    }

    private static void CheckName(string display, string name)
    {
        if (!SafeRelativePath.IsSafe(name))
            throw Corrupt(display, $"entry '{name}' has an unsafe path (absolute, '..' or empty parts); refusing to import");
    }

    private static string Describe(TarEntryType type) => type switch
    {
        TarEntryType.SymbolicLink => "symbolic link",
        TarEntryType.HardLink => "hard link",
        TarEntryType.CharacterDevice => "character device",
        TarEntryType.BlockDevice => "block device",
        TarEntryType.Fifo => "FIFO",
        _ => $"'{type}' entry",
    };

    private static BentoException Corrupt(string display, string message) => new($"{display}: {message}; nothing was imported");
}
