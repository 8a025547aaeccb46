using Bento.Core.IO;
using Bento.Core.Manifest;

namespace Bento.Core.Store;

/// <summary>
/// The local store at <c>$BENTO_HOME</c> (default <c>~/.bento</c>):
/// <code>
///   blobs/sha256/HEX            every file's content, once (hard link or reflink of the source where possible)
///   bentos/NAME/VERSION/        bento.yaml + model/ + src/, each file a hard link to its blob
///   bentos/NAME/.latest         the version NAME and NAME:latest resolve to
///   tmp/PID-*/                  work in progress (its .owner file locked by its process); renamed into place on
///                               commit, removed on failure; left by a killed process, removed by the next command
///   cache/hashes.json           the hash cache
///   published/NAME/VERSION.json the images pushed for each bento (PublishedImages)
///   .lock                       held while committing, deleting and collecting garbage
/// </code>
/// Blobs are added to blobs/ only while <c>.lock</c> is held (staged first in an owned tmp/ work directory): with the
/// lock held, a blob no bento references is an orphan of a killed command, and build, import and delete remove it
/// (<see cref="StoreLeftovers"/>). Code that adds blobs without the lock would see them collected.
/// </summary>
public sealed class BentoStore
{
    public const string LatestPointer = ".latest";

    public BentoStore(string root)
    {
        Root = Path.GetFullPath(root);
    }

    public string Root { get; }
    public string BlobsDirectory => Path.Combine(Root, "blobs", "sha256");
    public string BentosDirectory => Path.Combine(Root, "bentos");
    public string TempDirectory => Path.Combine(Root, "tmp");
    public string CacheDirectory => Path.Combine(Root, "cache");
    public string LockPath => Path.Combine(Root, ".lock");

    public static string DefaultRoot() =>
        Environment.GetEnvironmentVariable("BENTO_HOME") is { Length: > 0 } home
            ? home
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".bento");

    public static BentoStore Open() => new(DefaultRoot());

    public string BlobPath(string sha256) => Path.Combine(BlobsDirectory, sha256);

    /// <summary>
    /// Whether the blob for <paramref name="sha256"/> is present as a stored file of the expected size. A blob that is
    /// a symbolic link (older versions stored Hugging Face cache links as they were) does not count: it points outside
    /// the store and breaks when its target goes.
    /// </summary>
    public bool HasBlob(string sha256, long size)
    {
        var blob = BlobPath(sha256);
        return !Posix.IsSymbolicLink(blob) && File.Exists(blob) && new FileInfo(blob).Length == size;
    }

    public string BentoDirectory(string name, string version) => Path.Combine(BentosDirectory, name, version);

    public HashCache LoadHashCache() => HashCache.Load(Path.Combine(CacheDirectory, "hashes.json"));

    /// <summary>Creates the store's directories; a store that cannot be created is reported with its path.</summary>
    public void EnsureCreated()
    {
        try
        {
            foreach (var dir in new[] { BlobsDirectory, BentosDirectory, TempDirectory, CacheDirectory })
                Directory.CreateDirectory(dir);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw StoreError("create directories", e);
        }
    }

    public async Task<StoreLock> LockAsync(Action<string>? onWait = null, CancellationToken ct = default)
    {
        EnsureCreated();
        try { return await StoreLock.AcquireAsync(LockPath, onWait, ct: ct); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw StoreError("lock", e); }
    }

    /// <summary>
    /// A private work directory under tmp/, named with our pid and owned (see <see cref="StoreLeftovers"/>) until
    /// <see cref="TryDeleteDirectory"/> removes it, so that no other process takes it for a leftover meanwhile.
    /// </summary>
    public string CreateTempDirectory(string purpose)
    {
        EnsureCreated();
        var dir = Path.Combine(TempDirectory, $"{Environment.ProcessId}-{purpose}-{Guid.NewGuid():N}");
        try
        {
            Directory.CreateDirectory(dir);
            StoreLeftovers.TakeOwnership(dir);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw StoreError("create a work directory", e); }
        return dir;
    }

    /// <summary>
    /// Removes what interrupted commands left (work directories of dead processes, partial files, orphan blobs,
    /// debris; see <see cref="StoreLeftovers"/>) and returns it. Call with the lock held.
    /// </summary>
    public IReadOnlyList<Leftover> RemoveLeftovers() => StoreLeftovers.Remove(this);

    public IEnumerable<StoredBento> List()
    {
        if (!Directory.Exists(BentosDirectory)) yield break;
        foreach (var nameDir in Directory.EnumerateDirectories(BentosDirectory).Order(StringComparer.Ordinal))
        foreach (var versionDir in VersionDirectories(nameDir))
        {
            var manifestPath = Path.Combine(versionDir, BentoManifest.FileName);
            if (!File.Exists(manifestPath)) continue;
            StoredBento bento;
            // Readers do not take the lock: a bento deleted meanwhile (by another process) is simply no longer listed.
            try { bento = Load(versionDir); }
            catch (BentoException) when (!File.Exists(manifestPath)) { continue; }
            yield return bento;
        }
    }

    private static List<string> VersionDirectories(string nameDir)
    {
        try { return Directory.EnumerateDirectories(nameDir).Order(StringComparer.Ordinal).ToList(); }
        catch (DirectoryNotFoundException) { return []; } // its last version deleted meanwhile
    }

    public StoredBento Load(string bentoDirectory)
    {
        var manifestPath = Path.Combine(bentoDirectory, BentoManifest.FileName);
        var manifest = ManifestSerializer.FromYaml(InputFile.ReadAllText(manifestPath, InputLimits.YamlBytes, BentoManifest.FileName), manifestPath);
        return new StoredBento(manifest, bentoDirectory);
    }

    public bool Exists(string name, string version) =>
        File.Exists(Path.Combine(BentoDirectory(name, version), BentoManifest.FileName));

    /// <summary>NAME, NAME:latest, NAME:VERSION or NAME:PREFIX (unique version prefix).</summary>
    public StoredBento Resolve(BentoTag tag)
    {
        // Readers do not take the lock: when a version disappears between listing and loading it (another process
        // deleted it), look again.
        for (var attempt = 0; ; attempt++)
        {
            try { return ResolveOnce(tag); }
            catch (Exception e) when (attempt < 3 && e is VanishedException or DirectoryNotFoundException) { }
        }
    }

    private StoredBento ResolveOnce(BentoTag tag)
    {
        var nameDir = Path.Combine(BentosDirectory, tag.Name);
        var versions = VersionDirectories(nameDir).Select(d => Path.GetFileName(d)).Where(v => Exists(tag.Name, v)).ToList();
        if (versions.Count == 0)
            throw new BentoException($"bento '{tag}' not found in {Root}" + SuggestName(tag.Name));

        if (tag.IsLatest)
        {
            var pointer = ReadLatest(tag.Name);
            var version = pointer is not null && versions.Contains(pointer) ? pointer : NewestVersion(tag.Name, versions);
            return LoadListed(tag.Name, version);
        }
        if (versions.Contains(tag.Version!)) return LoadListed(tag.Name, tag.Version!);
        var matches = versions.Where(v => v.StartsWith(tag.Version!, StringComparison.Ordinal)).Order(StringComparer.Ordinal).ToList();
        return matches.Count switch
        {
            1 => LoadListed(tag.Name, matches[0]),
            0 => throw new BentoException($"bento '{tag}' not found: '{tag.Name}' has versions {string.Join(", ", versions.Order(StringComparer.Ordinal))}"),
            _ => throw new BentoException($"'{tag}' is ambiguous: it matches {string.Join(", ", matches.Select(m => $"{tag.Name}:{m}"))}; give more of the version"),
        };
    }

    /// <summary>Loads a version just seen in a listing; <see cref="VanishedException"/> when it was deleted since.</summary>
    private StoredBento LoadListed(string name, string version)
    {
        var directory = BentoDirectory(name, version);
        try { return Load(directory); }
        catch (BentoException) when (!File.Exists(Path.Combine(directory, BentoManifest.FileName))) { throw new VanishedException(); }
    }

    private sealed class VanishedException : Exception;

    private string SuggestName(string name)
    {
        if (!Directory.Exists(BentosDirectory)) return "";
        var hint = Spec.Suggest.Closest(name, Directory.EnumerateDirectories(BentosDirectory).Select(d => Path.GetFileName(d)!));
        return hint is null ? " (see 'bento list')" : $"; did you mean '{hint}'?";
    }

    private string NewestVersion(string name, IEnumerable<string> versions) =>
        versions.Select(v => LoadListed(name, v).Manifest)
            .OrderByDescending(m => m.Created).ThenBy(m => m.Version, StringComparer.Ordinal).First().Version;

    public string? ReadLatest(string name)
    {
        var pointer = Path.Combine(BentosDirectory, name, LatestPointer);
        try { return File.ReadAllText(pointer).Trim(); }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException) { return null; }
    }

    public Task WriteLatestAsync(string name, string version, CancellationToken ct = default) =>
        AtomicFile.WriteAllTextAsync(Path.Combine(BentosDirectory, name, LatestPointer), version + "\n", ct);

    /// <summary>
    /// Moves a fully written bento directory into place. Returns false (and discards the work) when that version
    /// exists already: same version means same content. Call with the lock held.
    /// </summary>
    /// <param name="replace">Put the prepared directory in place of an existing one (a repair): the old one is moved
    /// aside first and removed after, so the version is never absent for longer than two renames.</param>
    /// <param name="moveLatest">Point NAME:latest at this version (a build does; importing a bento already stored does not).</param>
    public async Task<bool> CommitAsync(string preparedDirectory, BentoManifest manifest, CancellationToken ct = default, bool replace = false, bool moveLatest = true)
    {
        var target = BentoDirectory(manifest.Name, manifest.Version);
        var created = false;
        string? trash = null;
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            if (replace && Exists(manifest.Name, manifest.Version))
            {
                trash = Path.Combine(CreateTempDirectory("replaced"), "bento");
                Directory.Move(target, trash);
            }
            if (!Exists(manifest.Name, manifest.Version))
            {
                if (Directory.Exists(target)) TryDeleteDirectory(target); // a directory without bento.yaml is debris
                Directory.Move(preparedDirectory, target);
                created = trash is null;
            }
            if (moveLatest || ReadLatest(manifest.Name) is null) await WriteLatestAsync(manifest.Name, manifest.Version, ct);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            if (trash is not null && !Directory.Exists(target)) Directory.Move(trash, target);
            throw StoreError($"commit {manifest.Tag}", e);
        }
        finally
        {
            if (trash is not null && Directory.Exists(trash)) TryDeleteDirectory(Path.GetDirectoryName(trash)!);
        }
        return created;
    }

    /// <summary>
    /// Lays out a bento under <paramref name="workDirectory"/> from blobs already in the store (one hard link per file,
    /// plus bento.yaml) and commits it with <see cref="CommitAsync"/>. Call with the lock held.
    /// </summary>
    public async Task<bool> AssembleAndCommitAsync(string workDirectory, BentoManifest manifest, CancellationToken ct = default, bool replace = false, bool moveLatest = true)
    {
        var bentoDir = Path.Combine(workDirectory, "bento");
        foreach (var (bentoPath, file) in manifest.AllFiles())
        {
            ct.ThrowIfCancellationRequested();
            var destination = Path.Combine(bentoDir, bentoPath);
            Directory.CreateDirectory(Path.GetDirectoryName(destination)!);
            var errno = Posix.TryHardLink(BlobPath(file.Sha256), destination);
            if (errno != 0) throw new IOException($"cannot link {bentoPath} into the bento: {Posix.Describe(errno)}", errno);
        }
        await AtomicFile.WriteAllTextAsync(Path.Combine(bentoDir, BentoManifest.FileName), ManifestSerializer.ToYaml(manifest), ct);
        return await CommitAsync(bentoDir, manifest, ct, replace, moveLatest);
    }

    /// <summary>
    /// <c>bento delete</c> after confirmation: takes the lock, then deletes each selected bento that still exists
    /// (chosen without the lock, it may have been deleted by another process meanwhile: then it is reported as gone).
    /// Builds, imports and deletes of the same bento are serialised by the lock.
    /// </summary>
    /// <returns>For each selected bento, the blobs its deletion freed, or null when it was already gone.</returns>
    public async Task<IReadOnlyList<(string Tag, IReadOnlyList<string>? Freed)>> DeleteSelectedAsync(
        IEnumerable<StoredBento> selected, Action<string>? onWait = null, CancellationToken ct = default)
    {
        var results = new List<(string, IReadOnlyList<string>?)>();
        using (await LockAsync(onWait, ct))
        {
            foreach (var chosen in selected)
            {
                // Loaded again under the lock: what was confirmed is exactly what is deleted.
                if (!Exists(chosen.Manifest.Name, chosen.Manifest.Version)) { results.Add((chosen.Tag, null)); continue; }
                var bento = Load(BentoDirectory(chosen.Manifest.Name, chosen.Manifest.Version));
                results.Add((bento.Tag, await DeleteAsync(bento, ct)));
            }
        }
        return results;
    }

    /// <summary>Deletes a bento, re-points latest, and removes blobs no bento references any more. Call with the lock held.</summary>
    public async Task<IReadOnlyList<string>> DeleteAsync(StoredBento bento, CancellationToken ct = default)
    {
        RemoveLeftovers();
        var name = bento.Manifest.Name;
        var trash = Path.Combine(CreateTempDirectory("delete"), "bento");
        try
        {
            Directory.Move(bento.Directory, trash);
            new PublishedImages(this).Forget(bento.Manifest);
            var remaining = List().Where(b => b.Manifest.Name == name).Select(b => b.Manifest).ToList();
            var pointer = Path.Combine(BentosDirectory, name, LatestPointer);
            if (remaining.Count == 0)
            {
                AtomicFile.TryDelete(pointer);
                TryDeleteDirectory(Path.Combine(BentosDirectory, name));
            }
            else if (ReadLatest(name) == bento.Manifest.Version)
            {
                var newest = remaining.OrderByDescending(m => m.Created).ThenBy(m => m.Version, StringComparer.Ordinal).First();
                await WriteLatestAsync(name, newest.Version, ct);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw StoreError($"delete {bento.Tag}", e);
        }
        finally
        {
            TryDeleteDirectory(Path.GetDirectoryName(trash)!);
        }
        return CollectGarbage();
    }

    /// <summary>Removes blobs that no bento references (after deletes, or left by a killed build). Call with the lock held.</summary>
    public IReadOnlyList<string> CollectGarbage()
    {
        var referenced = ReferencedBlobs();
        var removed = new List<string>();
        if (!Directory.Exists(BlobsDirectory)) return removed;
        foreach (var blob in Directory.EnumerateFiles(BlobsDirectory))
        {
            var sha = Path.GetFileName(blob);
            if (referenced.Contains(sha)) continue;
            File.Delete(blob);
            removed.Add(sha);
        }
        return removed;
    }

    /// <summary>Deletes those of <paramref name="added"/> that no bento references: the blobs an import or pull stored
    /// before it failed (best effort; call with the lock held).</summary>
    public void RemoveUnreferenced(IEnumerable<string> added)
    {
        var referenced = ReferencedBlobs();
        foreach (var sha in added.Where(s => !referenced.Contains(s))) AtomicFile.TryDelete(BlobPath(sha));
    }

    public HashSet<string> ReferencedBlobs() =>
        List().SelectMany(b => b.Manifest.AllFiles().Select(f => f.File.Sha256)).ToHashSet(StringComparer.Ordinal);

    public static void TryDeleteDirectory(string dir)
    {
        StoreLeftovers.Release(dir);
        try { if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }

    public BentoException StoreError(string action, Exception e) =>
        new($"cannot {action} in the store {Root}: {Describe(e)}" + Advice(e), e);

    /// <summary>.NET's messages vary ("Access to the path ... is denied"); lead with the plain cause.</summary>
    private static string Describe(Exception e) => e switch
    {
        UnauthorizedAccessException => $"permission denied ({e.Message.TrimEnd('.')})",
        IOException { HResult: Posix.EACCES or Posix.EPERM } => $"permission denied ({e.Message.TrimEnd('.')})",
        _ => e.Message.TrimEnd('.'),
    };

    private static string Advice(Exception e) => e.HResult switch
    {
        Posix.ENOSPC => " (free some space or point BENTO_HOME elsewhere)",
        Posix.EACCES or Posix.EPERM or Posix.EROFS => " (check the permissions of BENTO_HOME or point it elsewhere)",
        _ when e is UnauthorizedAccessException => " (check the permissions of BENTO_HOME or point it elsewhere)",
        _ when e.Message.Contains("No space", StringComparison.OrdinalIgnoreCase) => " (free some space or point BENTO_HOME elsewhere)",
        _ => "",
    };
}
