using System.Formats.Tar;
using Bento.Core.Manifest;
using Bento.Core.IO;
using Bento.Core.Store;
using Bento.Core.Tar;
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

    /// <summary>
    /// Writes <paramref name="bento"/> as a .bento file at <paramref name="destination"/> (a path from
    /// <see cref="ExportDestination"/>): through a temp file renamed into place, so a failed export leaves no file.
    /// </summary>
    public static async Task ExportToFileAsync(StoredBento bento, BentoStore store, string destination, TransferMeter? meter = null, CancellationToken ct = default)
    {
        var full = Path.GetFullPath(destination);
        var directory = Path.GetDirectoryName(full)!;
        if (!Directory.Exists(directory)) throw new BentoException($"cannot export to '{destination}': directory '{directory}' does not exist");
        await CheckIntactAsync(bento, store, ct);
        var temp = $"{full}.tmp-{Environment.ProcessId}";
        try
        {
            await using (var file = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20, FileOptions.Asynchronous))
            {
                await WriteAsync(bento, file, meter, ct);
                await file.FlushAsync(ct);
                file.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            AtomicFile.TryDelete(temp);
            throw new BentoException($"cannot write '{destination}': {e.Message}", e);
        }
        catch
        {
            AtomicFile.TryDelete(temp);
            throw;
        }
    }

    /// <summary>
    /// Writes <paramref name="bento"/> as a .bento to a stream that cannot be replaced atomically (stdout, a pipe, a
    /// FIFO). The bento is checked first (sizes, links, manifest) and every byte is hashed as it goes out; if a file
    /// turns out damaged midway the stream is cut short, which any importer rejects as truncated.
    /// </summary>
    public static async Task ExportToStreamAsync(StoredBento bento, BentoStore store, Stream output, TransferMeter? meter = null, CancellationToken ct = default)
    {
        await CheckIntactAsync(bento, store, ct);
        await WriteAsync(bento, output, meter, ct);
        await output.FlushAsync(ct);
    }

    /// <summary>
    /// The tar (through <see cref="DeterministicTarWriter"/>, so two exports of a bento are byte-identical) compressed
    /// with zstd at a fixed level: <c>bento.yaml</c> first, then every file in ordinal path order, every entry stamped
    /// with the bento's creation time.
    /// </summary>
    private static async Task WriteAsync(StoredBento bento, Stream output, TransferMeter? meter, CancellationToken ct)
    {
        meter ??= TransferMeter.Silent;
        await using (var zstd = new CompressionStream(output, CompressionLevel, leaveOpen: true))
        await using (var tar = new DeterministicTarWriter(zstd, bento.Manifest.Created))
        {
            await using (var manifest = new FileStream(Path.Combine(bento.Directory, BentoManifest.FileName), FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous))
                await tar.WriteFileAsync(BentoManifest.FileName, manifest, executable: false, ct);
            foreach (var (bentoPath, file) in bento.Manifest.AllFiles().OrderBy(f => f.BentoPath, StringComparer.Ordinal))
            {
                ct.ThrowIfCancellationRequested();
                await using var data = new VerifiedFileReader(bento.FilePath(bentoPath), file.Size, file.Sha256, meter, problem => Damaged(bento, bentoPath, problem));
                await tar.WriteFileAsync(bentoPath, data, executable: false, ct);
            }
        }
        meter.Finish();
    }

    /// <summary>
    /// What can be checked before the first byte is written, without reading the weights twice: the manifest against
    /// its version, and every file and its blob present with the manifest's size. A blob that is not the bento file's
    /// own inode (a copy) is hashed here, since the export reads only the bento file. Content is checked while writing.
    /// </summary>
    private static async Task CheckIntactAsync(StoredBento bento, BentoStore store, CancellationToken ct)
    {
        if (!ManifestVersion.Matches(bento.Manifest))
            throw Damaged(bento, BentoManifest.FileName, $"content does not match version {bento.Manifest.Version} (manifest altered)");
        foreach (var (bentoPath, file) in bento.Manifest.AllFiles())
        {
            var path = bento.FilePath(bentoPath);
            var blob = store.BlobPath(file.Sha256);
            var blobLabel = $"blob {file.Sha256[..12]} of {bentoPath}";
            if (StoredFile.LinkProblem(path) is { } pathLink) throw Damaged(bento, bentoPath, pathLink);
            if (StoredFile.LinkProblem(blob) is { } blobLink) throw Damaged(bento, blobLabel, blobLink);
            if (!File.Exists(path)) throw Damaged(bento, bentoPath, "missing");
            if (!File.Exists(blob)) throw Damaged(bento, blobLabel, "missing");
            var (fileId, blobId) = (Posix.Identify(path), Posix.Identify(blob));
            if (fileId.Size != file.Size) throw Damaged(bento, bentoPath, $"size {fileId.Size}, expected {file.Size}");
            if (blobId.Size != file.Size) throw Damaged(bento, blobLabel, $"size {blobId.Size}, expected {file.Size}");
            if ((fileId.Device, fileId.Inode) != (blobId.Device, blobId.Inode) && await FileHasher.HashAsync(blob, ct: ct) != file.Sha256)
                throw Damaged(bento, blobLabel, "content does not match its sha256");
        }
    }

    private static BentoException Damaged(StoredBento bento, string what, string problem) =>
        new($"{bento.Tag} is corrupt in the store ({what}: {problem}); nothing was exported. " +
            $"See 'bento verify {bento.Tag}', then repair it by rebuilding it ('bento build') or re-importing it ('bento import')");

    /// <summary>
    /// Imports a .bento file: every entry's name, type, size and sha256 are checked against the manifest while it
    /// streams into a private work directory; only a fully verified bento is committed.
    /// </summary>
    public static async Task<ImportResult> ImportAsync(BentoStore store, string source, Action<string>? onWait = null, CancellationToken ct = default, TransferMeter? meter = null)
    {
        if (string.IsNullOrWhiteSpace(source)) throw new UsageException("the archive to import is empty: give a .bento file, or '-' for stdin");
        var display = Spec.BentofileParser.DisplayPath(source);
        if (!File.Exists(source)) throw new BentoException($"{display}: no such file");
        InputFile.RequireRegular(source);
        await using var file = new FileStream(source, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.SequentialScan | FileOptions.Asynchronous);
        meter?.SetTotal(file.Length);
        return await ImportAsync(store, file, display, onWait, ct, meter);
    }

    /// <summary>
    /// Imports a .bento read from a stream (stdin, a pipe): the same checks as from a file. <paramref name="display"/>
    /// names the source in errors. A bento already in the store is left as it is (NAME:latest does not move), unless
    /// some of its files or blobs are damaged: then the archive's verified bytes replace them.
    /// </summary>
    public static async Task<ImportResult> ImportAsync(BentoStore store, Stream source, string display, Action<string>? onWait = null, CancellationToken ct = default, TransferMeter? meter = null)
    {
        store.EnsureCreated();
        var work = store.CreateTempDirectory("import");
        try
        {
            BentoManifest manifest;
            Dictionary<string, string> staged;
            await using (var metered = new MeteredStream(source, meter ?? TransferMeter.Silent, leaveOpen: true))
                (manifest, staged) = await ReadAndVerifyAsync(display, metered, work, ct);
            meter?.Finish();
            using var storeLock = await store.LockAsync(onWait, ct);
            store.RemoveLeftovers();
            var tag = new BentoTag(manifest.Name, manifest.Version);
            IReadOnlyList<string>? damaged = null;
            if (store.Exists(manifest.Name, manifest.Version))
            {
                damaged = await DamageCheck.FindAsync(store, store.Resolve(tag), ct: ct);
                if (damaged.Count == 0) return new ImportResult(store.Resolve(tag), Created: false, Repaired: 0);
            }
            var added = new List<string>();
            var committed = false;
            try
            {
                var repairBlobs = damaged is null ? [] : manifest.AllFiles().Where(f => damaged.Contains(f.BentoPath)).Select(f => f.File.Sha256).ToHashSet();
                foreach (var (bentoPath, file) in manifest.AllFiles())
                {
                    var blob = store.BlobPath(file.Sha256);
                    if (added.Contains(file.Sha256)) continue; // the same content under two paths
                    if (!repairBlobs.Contains(file.Sha256) && store.HasBlob(file.Sha256, file.Size)) continue;
                    // A damaged blob is replaced by a new inode holding the verified bytes (the bento is relinked below).
                    File.Move(staged[bentoPath], blob, overwrite: true);
                    added.Add(file.Sha256);
                }
                var created = await store.AssembleAndCommitAsync(work, manifest, ct, replace: damaged is not null, moveLatest: damaged is null);
                committed = true;
                return new ImportResult(store.Resolve(tag), created, damaged?.Count ?? 0);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw store.StoreError($"import {manifest.Tag}", e);
            }
            finally
            {
                if (!committed && damaged is null) store.RemoveUnreferenced(added);
            }
        }
        finally
        {
            BentoStore.TryDeleteDirectory(work);
        }
    }

    private static async Task<(BentoManifest Manifest, Dictionary<string, string> Staged)> ReadAndVerifyAsync(
        string display, Stream source, string work, CancellationToken ct)
    {
        var staged = new Dictionary<string, string>(StringComparer.Ordinal);
        BentoManifest? manifest = null;
        Dictionary<string, ManifestFile>? expected = null;
        try
        {
            await using var zstd = new DecompressionStream(source, leaveOpen: true);
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
                    var bytes = new MemoryStream((int)entry.Length);
                    await (entry.DataStream ?? Stream.Null).CopyToAsync(bytes, ct);
                    var manifestSource = $"{display}:{BentoManifest.FileName}";
                    manifest = ManifestSerializer.FromYaml(Utf8Text.Decode(bytes.GetBuffer().AsSpan(0, (int)bytes.Length), manifestSource), manifestSource);
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
        catch (IOException e) when (e.GetType() == typeof(IOException) && e.HResult is not (Posix.ENOSPC or Posix.EACCES or Posix.EROFS))
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
