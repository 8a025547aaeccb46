using System.Text.RegularExpressions;
using Bento.Core.IO;
using Bento.Core.Manifest;

namespace Bento.Core.Store;

/// <summary>What an interrupted command (a SIGKILL, a power cut) can leave in the store.</summary>
public enum LeftoverKind
{
    /// <summary>tmp/PID-PURPOSE-ID/: the work directory of a build, import or delete that never finished (partial copies included).</summary>
    WorkDirectory,
    /// <summary>NAME.tmp-PID-ID: a file being replaced atomically when its writer died.</summary>
    PartialFile,
    /// <summary>A blob no bento uses (a build or import killed after storing blobs, before committing the bento).</summary>
    OrphanBlob,
    /// <summary>A bento directory without bento.yaml, or a file in blobs/ that is not named by a sha256.</summary>
    Debris,
}

/// <summary>One leftover; <see cref="Path"/> is relative to the store root.</summary>
public sealed record Leftover(LeftoverKind Kind, string Path, long Bytes, string What)
{
    public override string ToString() => $"{Path}: {What} ({InputLimits.Bytes(Bytes)})";
}

/// <summary>
/// Finds and removes what interrupted commands left behind. Work in progress is never touched: every work directory
/// holds an <c>.owner</c> file its process keeps locked (flock, released by the kernel when the process dies, whatever
/// the pid namespace), and blobs are only ever added while the store lock is held, so with that lock held an
/// unreferenced blob is an orphan. <c>bento verify</c> reports leftovers; build, import and delete remove them (under
/// the store lock) before they commit.
/// </summary>
public static partial class StoreLeftovers
{
    /// <summary>The file inside each work directory that its owner holds locked.</summary>
    public const string OwnerFile = ".owner";

    [GeneratedRegex(@"\.tmp-(\d+)-[0-9a-f]{32}$")]
    private static partial Regex AtomicTemp();

    [GeneratedRegex("^[0-9a-f]{64}$")]
    private static partial Regex Sha256Name();

    /// <summary>Everything left by commands that are no longer running. Safe without the lock (it only reads).</summary>
    public static IReadOnlyList<Leftover> Find(BentoStore store)
    {
        var found = new List<Leftover>();
        if (!Directory.Exists(store.Root)) return found;
        foreach (var dir in Enumerate(store.TempDirectory, directories: true))
            if (!IsHeld(dir)) found.Add(new(LeftoverKind.WorkDirectory, Relative(store, dir), SizeOf(dir), "work directory of an interrupted command"));
        foreach (var file in Enumerate(store.TempDirectory, directories: false))
            found.Add(new(LeftoverKind.Debris, Relative(store, file), SizeOf(file), "stray file in the work area"));

        foreach (var folder in PartialFileFolders(store))
        foreach (var file in Enumerate(folder, directories: false))
            if (AtomicTemp().Match(Path.GetFileName(file)) is { Success: true } m && !ProcessAlive(int.Parse(m.Groups[1].Value)))
                found.Add(new(LeftoverKind.PartialFile, Relative(store, file), SizeOf(file), "partial file of an interrupted write"));

        foreach (var nameDir in Enumerate(store.BentosDirectory, directories: true))
        foreach (var versionDir in Enumerate(nameDir, directories: true))
            if (!File.Exists(Path.Combine(versionDir, BentoManifest.FileName)))
                found.Add(new(LeftoverKind.Debris, Relative(store, versionDir), SizeOf(versionDir), $"bento directory without {BentoManifest.FileName}"));

        var referenced = TryReferencedBlobs(store);
        foreach (var blob in Enumerate(store.BlobsDirectory, directories: false))
        {
            var name = Path.GetFileName(blob);
            if (!Sha256Name().IsMatch(name))
                found.Add(new(LeftoverKind.Debris, Relative(store, blob), SizeOf(blob), "file in the blob store not named by its sha256"));
            else if (referenced is not null && !referenced.Contains(name))
                found.Add(new(LeftoverKind.OrphanBlob, Relative(store, blob), SizeOf(blob), "blob no bento uses"));
        }
        foreach (var dir in Enumerate(store.BlobsDirectory, directories: true))
            found.Add(new(LeftoverKind.Debris, Relative(store, dir), SizeOf(dir), "directory in the blob store"));
        return found;
    }

    /// <summary>Removes <see cref="Find"/>'s leftovers and returns those it removed. Call with the store lock held.</summary>
    public static IReadOnlyList<Leftover> Remove(BentoStore store)
    {
        var removed = new List<Leftover>();
        foreach (var leftover in Find(store))
        {
            var full = Path.Combine(store.Root, leftover.Path);
            try
            {
                if (Directory.Exists(full) && !Posix.IsSymbolicLink(full)) Directory.Delete(full, recursive: true);
                else File.Delete(full);
                removed.Add(leftover);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { } // reported again by verify
        }
        return removed;
    }

    /// <summary>
    /// Creates a work directory under tmp/ owned by this process: its <c>.owner</c> file stays locked until
    /// <see cref="Release"/> (or until the process dies), which is how <see cref="Find"/> tells it from a leftover.
    /// </summary>
    internal static void TakeOwnership(string directory)
    {
        var owner = new FileStream(Path.Combine(directory, OwnerFile), FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None);
        Owned[directory] = owner;
    }

    /// <summary>Lets go of a work directory this process owns (before it is deleted).</summary>
    internal static void Release(string directory)
    {
        if (Owned.TryRemove(Path.TrimEndingDirectorySeparator(directory), out var owner)) owner.Dispose();
    }

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, FileStream> Owned = new(StringComparer.Ordinal);

    /// <summary>Whether a live process owns <paramref name="directory"/>.</summary>
    private static bool IsHeld(string directory)
    {
        if (Owned.ContainsKey(directory)) return true;
        try
        {
            // Only probed: a live owner holds the lock; a dead one's was released by the kernel.
            using var probe = new FileStream(Path.Combine(directory, OwnerFile), FileMode.Open, FileAccess.ReadWrite, FileShare.None);
            return false;
        }
        catch (IOException e) when (e.HResult == 11 /* EWOULDBLOCK: its owner holds it */) { return true; }
        catch (FileNotFoundException)
        {
            // No owner file: written by an older version, or its creator died before taking ownership (or is about
            // to take it). The pid in the name decides.
            var name = Path.GetFileName(directory);
            var dash = name.IndexOf('-');
            return dash > 0 && int.TryParse(name[..dash], out var pid) && ProcessAlive(pid);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return true; } // unsure: leave it
    }

    private static bool ProcessAlive(int pid) => pid == Environment.ProcessId || Directory.Exists($"/proc/{pid}");

    /// <summary>Folders where <see cref="AtomicFile"/> may leave NAME.tmp-PID-ID files: bentos/NAME/, cache/, published/NAME/.</summary>
    private static IEnumerable<string> PartialFileFolders(BentoStore store) =>
        Enumerate(store.BentosDirectory, directories: true)
            .Append(store.CacheDirectory)
            .Concat(Enumerate(Path.Combine(store.Root, "published"), directories: true));

    private static HashSet<string>? TryReferencedBlobs(BentoStore store)
    {
        // A bento whose manifest cannot be read may still use any blob: then no blob is called an orphan.
        try { return store.ReferencedBlobs(); }
        catch (Exception e) when (e is BentoException or IOException or UnauthorizedAccessException) { return null; }
    }

    private static IEnumerable<string> Enumerate(string folder, bool directories)
    {
        if (!Directory.Exists(folder)) return [];
        try
        {
            return (directories ? Directory.EnumerateDirectories(folder) : Directory.EnumerateFiles(folder))
                .Order(StringComparer.Ordinal).ToList();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return []; }
    }

    private static long SizeOf(string path)
    {
        try
        {
            if (File.Exists(path)) return new FileInfo(path).Length;
            return new DirectoryInfo(path).EnumerateFiles("*", SearchOption.AllDirectories).Sum(f => f.Length);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return 0; }
    }

    private static string Relative(BentoStore store, string path) => Path.GetRelativePath(store.Root, path);
}
