using System.Text;
using Bento.Core;
using Bento.Core.IO;
using Bento.Core.Manifest;
using Bento.Core.Store;
using Bento.Images.Oci;
using Bento.Images.Registry;

namespace Bento.Images.Artifact;

/// <summary>What <c>bento pull</c> did: the bento, whether it is new or repaired, the artifact's digest and the traffic.</summary>
public sealed record PullResult(StoredBento Bento, bool Created, int Repaired, string Digest, TransferSnapshot Transfer);

/// <summary>
/// <c>bento pull REF</c>: reads a bento's ModelPack artifact (<see cref="BentoArtifact"/>) and stores the bento exactly
/// as <c>bento import</c> would. The artifact's <c>bento.yaml</c> must match its version; every other layer must be
/// a file it lists, at the path, size and sha256 it lists (a raw layer's digest is the file's sha256). Blobs the store
/// already holds are not downloaded; the rest stream in parallel into a private work directory in the store, each
/// verified against its digest, and only then, under the store lock, move into place and the bento is committed. A
/// pull that fails or is interrupted leaves nothing behind; a bento already stored and intact is left as it is, and
/// one whose files are damaged is repaired from the verified download.
/// </summary>
public sealed class BentoPuller(RegistryClient client, BentoStore store)
{
    public async Task<PullResult> PullAsync(ImageReference reference, IPullObserver? observer, Action<string>? onWait, CancellationToken ct)
    {
        observer ??= IPullObserver.None;
        var before = client.Stats.Snapshot();
        var top = await client.GetManifestAsync(reference, observer, ct);
        if (top.MediaType != MediaTypes.OciManifest)
            throw new BentoException($"{reference} is a {top.MediaType}, not a bento artifact (an OCI manifest with artifactType {ModelPack.ArtifactType}); " +
                                     "push one with 'bento push TAG REF'");
        var document = OciJson.Parse<ManifestDocument>(top.Bytes, $"the manifest of {reference}");
        if (document.ArtifactType != ModelPack.ArtifactType)
            throw new BentoException($"{reference} is not a model artifact (artifactType {(document.ArtifactType is null ? "absent: a container image?" : $"'{document.ArtifactType}'")}, " +
                                     $"expected {ModelPack.ArtifactType}); push a bento with 'bento push TAG REF'");
        var layers = document.Layers.Select(l => l.ToDescriptor()).ToList();
        var yamlLayers = layers.Where(l => l.MediaType == ModelPack.BentoManifestMediaType).ToList();
        if (yamlLayers.Count != 1)
            throw new BentoException($"{reference} is a ModelPack artifact without exactly one {BentoManifest.FileName} layer ({ModelPack.BentoManifestMediaType}): " +
                                     "not a bento; pull it with a ModelPack tool instead");
        var yaml = await client.GetSmallBlobAsync(reference, yamlLayers[0], observer, ct);
        var display = $"{reference}:{BentoManifest.FileName}";
        var manifest = ManifestSerializer.FromYaml(Encoding.UTF8.GetString(yaml), display);
        if (!ManifestVersion.Matches(manifest))
            throw new BentoException($"{display} does not match its version {manifest.Version} (the manifest was altered); nothing was pulled");
        var files = MatchLayers(reference, manifest, layers.Where(l => l != yamlLayers[0]).ToList());

        store.EnsureCreated();
        var tag = new BentoTag(manifest.Name, manifest.Version);
        IReadOnlyList<string>? damaged = null;
        if (store.Exists(manifest.Name, manifest.Version))
        {
            damaged = await DamageCheck.FindAsync(store, store.Resolve(tag), ct: ct);
            if (damaged.Count == 0) return new PullResult(store.Resolve(tag), false, 0, top.Digest, client.Stats.Snapshot() - before);
        }
        var repair = damaged is null ? new HashSet<string>() : manifest.AllFiles().Where(f => damaged.Contains(f.BentoPath)).Select(f => f.File.Sha256).ToHashSet();
        var wanted = files.Values.DistinctBy(d => d.Digest)
            .Where(d => repair.Contains(OciDigest.Hex(d.Digest)) || !Present(d))
            .ToList();
        foreach (var d in files.Values.DistinctBy(d => d.Digest).Except(wanted)) observer.BlobCached(d);

        var work = store.CreateTempDirectory("pull");
        try
        {
            await Parallel.ForEachAsync(wanted, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, client.Options.MaxParallelBlobs), CancellationToken = ct },
                async (d, token) =>
                {
                    observer.BlobStarted(d);
                    await client.DownloadBlobAsync(reference, d, Path.Combine(work, OciDigest.Hex(d.Digest)), observer, token);
                    client.Stats.Downloaded();
                    observer.BlobDone(d);
                });
            using var storeLock = await store.LockAsync(onWait, ct);
            store.RemoveLeftovers();
            if (damaged is null && store.Exists(manifest.Name, manifest.Version))
                return new PullResult(store.Resolve(tag), false, 0, top.Digest, client.Stats.Snapshot() - before); // pulled meanwhile by another process
            var added = new List<string>();
            var committed = false;
            try
            {
                foreach (var d in wanted)
                {
                    var sha = OciDigest.Hex(d.Digest);
                    if (!repair.Contains(sha) && Present(d)) continue;
                    // A damaged blob is replaced by a new inode holding the verified bytes (the bento is relinked below).
                    File.Move(Path.Combine(work, sha), store.BlobPath(sha), overwrite: true);
                    added.Add(sha);
                }
                var created = await store.AssembleAndCommitAsync(work, manifest, ct, replace: damaged is not null, moveLatest: damaged is null);
                committed = true;
                return new PullResult(store.Resolve(tag), created, damaged?.Count ?? 0, top.Digest, client.Stats.Snapshot() - before);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw store.StoreError($"pull {manifest.Tag}", e);
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

    private bool Present(Descriptor d)
    {
        var blob = new FileInfo(store.BlobPath(OciDigest.Hex(d.Digest)));
        return blob.Exists && blob.Length == d.Size;
    }

    /// <summary>Each file of the bento to its layer; a missing, extra or mismatched layer is an error naming it.</summary>
    private static Dictionary<string, Descriptor> MatchLayers(ImageReference reference, BentoManifest manifest, IReadOnlyList<Descriptor> layers)
    {
        var byPath = new Dictionary<string, Descriptor>(StringComparer.Ordinal);
        foreach (var layer in layers)
        {
            var path = layer.Annotations?.GetValueOrDefault(ModelPack.FilepathAnnotation)
                       ?? throw new BentoException($"{reference}: layer {layer.Digest} has no {ModelPack.FilepathAnnotation} annotation; nothing was pulled");
            if (!OciDigest.IsSha256(layer.Digest))
                throw new BentoException($"{reference}: layer {path} has digest '{layer.Digest}'; a bento's files are named by sha256; nothing was pulled");
            if (!byPath.TryAdd(path, layer))
                throw new BentoException($"{reference}: two layers claim the path {path}; nothing was pulled");
        }
        var files = new Dictionary<string, Descriptor>(StringComparer.Ordinal);
        foreach (var (bentoPath, file) in manifest.AllFiles())
        {
            if (!byPath.Remove(bentoPath, out var layer))
                throw new BentoException($"{reference}: {BentoManifest.FileName} lists {bentoPath} but the artifact has no layer for it; nothing was pulled");
            if (layer.Digest != OciDigest.FromHex(file.Sha256) || layer.Size != file.Size)
                throw new BentoException($"{reference}: the layer of {bentoPath} is {layer.Digest} ({layer.Size} bytes) but {BentoManifest.FileName} says " +
                                         $"sha256:{file.Sha256} ({file.Size} bytes); nothing was pulled");
            files[bentoPath] = layer;
        }
        if (byPath.Keys.FirstOrDefault() is { } extra)
            throw new BentoException($"{reference}: layer {extra} is not listed in {BentoManifest.FileName}; nothing was pulled");
        return files;
    }
}
