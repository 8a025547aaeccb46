using Bento.Core.IO;

namespace Bento.Core.Store;

/// <summary>How a file's bytes reached the blob store.</summary>
public enum IngestMethod { AlreadyStored, Reflink, HardLink, Copy }

/// <summary>
/// Puts files into <c>blobs/sha256/</c> without copying when it can: a reflink (copy-on-write, fully independent of the
/// source) where the file system supports it, else a hard link (same inode as the source; `bento verify` catches a
/// source later edited in place), else — only across file systems — a streamed copy whose hash is checked.
/// Blobs are first linked under the caller's temp directory and renamed into place, so a blob path never holds a
/// partial file.
/// </summary>
public sealed class BlobWriter
{
    private readonly BentoStore _store;
    private readonly string _workDirectory;

    public BlobWriter(BentoStore store, string workDirectory) => (_store, _workDirectory) = (store, workDirectory);

    /// <summary>Blobs this writer added (the caller removes them again if its commit fails).</summary>
    public List<string> Added { get; } = [];

    public async Task<IngestMethod> IngestAsync(string source, string sha256, FileIdentity hashed, CancellationToken ct = default)
    {
        var blob = _store.BlobPath(sha256);
        if (_store.HasBlob(sha256, hashed.Size)) return IngestMethod.AlreadyStored;
        // A damaged blob (wrong size, or a symbolic link): replace it with good bytes.
        if (File.Exists(blob) || Posix.IsSymbolicLink(blob)) File.Delete(blob);

        var staged = Path.Combine(_workDirectory, "blob-" + sha256);
        AtomicFile.TryDelete(staged);
        IngestMethod method;
        if (Posix.TryReflink(source, staged) == 0) method = IngestMethod.Reflink;
        else
        {
            var errno = Posix.TryHardLink(source, staged);
            if (errno == 0) method = IngestMethod.HardLink;
            else if (errno is Posix.EXDEV or Posix.EPERM or Posix.EACCES or 95 /* EOPNOTSUPP */ or 31 /* EMLINK */)
            {
                var copied = await FileHasher.CopyAndHashAsync(source, staged, ct);
                if (copied != sha256)
                {
                    AtomicFile.TryDelete(staged);
                    throw new BentoException($"{Spec.BentofileParser.DisplayPath(source)} changed while it was being stored; build again");
                }
                method = IngestMethod.Copy;
            }
            else throw new IOException($"cannot link '{source}' into the store: {Posix.Describe(errno)}", errno);
        }

        if (method != IngestMethod.Copy)
        {
            // The link shares (or cloned) the bytes we hashed only if the source did not change in between.
            var now = Posix.Identify(staged);
            if (method == IngestMethod.HardLink && (now.Inode != hashed.Inode || now.Size != hashed.Size || now.MtimeNs != hashed.MtimeNs) ||
                method == IngestMethod.Reflink && now.Size != hashed.Size || Posix.Identify(source).MtimeNs != hashed.MtimeNs)
            {
                AtomicFile.TryDelete(staged);
                throw new BentoException($"{Spec.BentofileParser.DisplayPath(source)} changed while it was being stored; build again");
            }
        }
        File.Move(staged, blob, overwrite: false);
        Added.Add(sha256);
        return method;
    }

    /// <summary>Removes the blobs this writer added that no committed bento references (after a failed commit).</summary>
    public void RollBack()
    {
        if (Added.Count == 0) return;
        var referenced = _store.ReferencedBlobs();
        foreach (var sha in Added)
            if (!referenced.Contains(sha)) AtomicFile.TryDelete(_store.BlobPath(sha));
        Added.Clear();
    }
}
