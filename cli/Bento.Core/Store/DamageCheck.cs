using Bento.Core.IO;
using Bento.Core.Manifest;

namespace Bento.Core.Store;

/// <summary>
/// Which files of a bento already in the store are damaged (missing, wrong size, wrong content, or the bento's file no
/// longer the blob's inode), so that building or importing the same content again repairs it instead of answering
/// "nothing to do". Cheap when nothing is wrong: an inode the caller has just hashed (a build's hard-linked source)
/// or one the hash cache knows unchanged is not read again.
/// </summary>
public static class DamageCheck
{
    /// <param name="knownGood">Inodes (device, inode, size, mtime) whose content the caller has just hashed, by sha256.</param>
    /// <param name="cache">Trusts and records blob hashes by identity (build); null hashes every blob (import, which reads every byte anyway).</param>
    /// <returns>The bento paths to repair; empty when the bento is intact.</returns>
    public static async Task<IReadOnlyList<string>> FindAsync(BentoStore store, StoredBento bento,
        IReadOnlyDictionary<string, FileIdentity>? knownGood = null, HashCache? cache = null, CancellationToken ct = default)
    {
        var damaged = new List<string>();
        foreach (var (bentoPath, file) in bento.Manifest.AllFiles())
        {
            ct.ThrowIfCancellationRequested();
            if (!await IsIntactAsync(store.BlobPath(file.Sha256), bento.FilePath(bentoPath), file, knownGood, cache, ct)) damaged.Add(bentoPath);
        }
        return damaged;
    }

    private static async Task<bool> IsIntactAsync(string blob, string path, ManifestFile file,
        IReadOnlyDictionary<string, FileIdentity>? knownGood, HashCache? cache, CancellationToken ct)
    {
        if (!File.Exists(blob) || !File.Exists(path)) return false;
        if (StoredFile.LinkProblem(blob) is not null || StoredFile.LinkProblem(path) is not null) return false;
        var (blobId, fileId) = (Posix.Identify(blob), Posix.Identify(path));
        if (blobId.Size != file.Size || fileId.Size != file.Size) return false;
        if ((blobId.Device, blobId.Inode) != (fileId.Device, fileId.Inode)) return false; // the bento must link its blob
        if (knownGood is not null && knownGood.TryGetValue(file.Sha256, out var good) &&
            (good.Device, good.Inode, good.Size, good.MtimeNs) == (blobId.Device, blobId.Inode, blobId.Size, blobId.MtimeNs))
            return true;
        var sha = cache?.Lookup(blob, blobId);
        if (sha is null)
        {
            sha = await FileHasher.HashAsync(blob, ct: ct);
            cache?.Remember(blob, blobId, sha);
        }
        return sha == file.Sha256;
    }
}
