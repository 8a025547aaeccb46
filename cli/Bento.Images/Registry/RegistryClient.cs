using Bento.Images.Oci;
using Bento.Images.Registry.Auth;
using Bento.Images.Registry.Http;

namespace Bento.Images.Registry;

/// <summary>What a push did: the manifest digest, the references now pointing at it, and the traffic it caused.</summary>
public sealed record PushResult(string Digest, IReadOnlyList<ImageReference> References, TransferSnapshot Transfer);

/// <summary>
/// What one push sends: its blobs (the config first) and the manifest naming them, byte for byte. An image and a
/// ModelPack artifact are pushed the same way.
/// </summary>
public sealed record PushContent(IReadOnlyList<IBlob> Blobs, string MediaType, byte[] ManifestBytes, string Digest)
{
    public static PushContent From(Image image)
    {
        var blobs = new List<IBlob> { new BytesBlob(image.Config, image.ConfigBytes) };
        foreach (var layer in image.Layers)
            if (blobs.All(b => b.Descriptor.Digest != layer.Blob.Descriptor.Digest)) blobs.Add(layer.Blob);
        return new PushContent(blobs, image.Manifest.MediaType, image.ManifestBytes, image.Manifest.Digest);
    }
}

/// <summary>
/// A client of the OCI distribution API for any number of registries, safe to share between threads: one
/// <see cref="RegistryTransport"/> (one HttpClient; auth and retries as handlers), the blob and manifest operations
/// every push and pull shares (<see cref="RegistryBlobs"/>, <see cref="RegistryManifests"/>), and whole pushes
/// (<see cref="PushAsync(PushContent, IReadOnlyList{ImageReference}, IPushObserver?, CancellationToken)"/>).
/// </summary>
public sealed class RegistryClient : IDisposable
{
    /// <summary>Manifests larger than this are refused (containerd and the distribution spec use 4 MiB).</summary>
    public const int MaxManifestBytes = 4 << 20;

    public static readonly string[] ManifestAccept = RegistryManifests.Accept;

    private readonly CredentialResolver _resolver;
    private readonly Retrier _retrier;
    private readonly RegistryTransport _transport;
    private readonly RegistryBlobs _blobs;
    private readonly RegistryManifests _manifests;

    public RegistryClient(RegistryOptions? options = null)
    {
        Options = options ?? new RegistryOptions();
        _resolver = new CredentialResolver(Options.Credentials);
        _retrier = new Retrier(Options.Retry, Stats);
        _transport = new RegistryTransport(Options, Stats, _retrier, _resolver);
        _blobs = new RegistryBlobs(_transport);
        _manifests = new RegistryManifests(_transport);
    }

    public RegistryOptions Options { get; }

    /// <summary>Requests and bytes of everything this client did.</summary>
    public TransferStats Stats { get; } = new();

    /// <summary>
    /// Checks that <paramref name="username"/>/<paramref name="secret"/> are accepted by <paramref name="registry"/>
    /// (a GET /v2/ with Basic, or a token from its realm); throws <see cref="RegistryAuthException"/> when not.
    /// </summary>
    public async Task VerifyCredentialsAsync(string registry, string username, string secret, CancellationToken ct)
    {
        var lookup = new CredentialLookup(new RegistryCredential(username, secret, "the command line (bento login)"), []);
        using var transport = new RegistryTransport(Options, Stats, _retrier, _resolver, lookup);
        await transport.VerifyCredentialsAsync(registry, ct);
    }

    // ---------------------------------------------------------------------------------------------------- blobs

    public Task<bool> BlobExistsAsync(ImageReference repository, Descriptor blob, CancellationToken ct) =>
        _blobs.ExistsAsync(repository.Registry, repository.Repository, blob, [RegistryBlobs.PullScope(repository.Repository)], null, ct);

    /// <summary>Uploads one blob (it must not be assumed present); the strategy follows <see cref="RegistryOptions.Upload"/>.</summary>
    public Task UploadBlobAsync(ImageReference repository, IBlob blob, IPushObserver? observer, CancellationToken ct) =>
        _blobs.UploadAsync(repository.Registry, repository.Repository, blob, [RegistryBlobs.PushScope(repository.Repository)], observer ?? IPushObserver.None, null, ct);

    /// <summary>
    /// Streams a blob to <paramref name="destination"/> (a temporary name beside it, renamed when complete), hashing
    /// as it goes; a size or digest mismatch is a <see cref="DigestMismatchException"/> naming the digest, and nothing
    /// is left at the destination. Retried from the start on transient failures.
    /// </summary>
    public Task DownloadBlobAsync(ImageReference repository, Descriptor blob, string destination, IPullObserver? observer, CancellationToken ct) =>
        _blobs.DownloadAsync(repository, blob, destination, observer ?? IPullObserver.None, ct);

    /// <summary>A blob small enough to hold in memory (a config), verified.</summary>
    internal Task<byte[]> GetSmallBlobAsync(ImageReference repository, Descriptor blob, IPullObserver observer, CancellationToken ct) =>
        _blobs.GetSmallAsync(repository, blob, observer, ct);

    // ---------------------------------------------------------------------------------------------------- manifests

    /// <summary>PUT the manifest bytes under the reference's tag (or digest); returns the digest.</summary>
    public async Task<string> PutManifestAsync(ImageReference reference, string mediaType, byte[] manifest, IPushObserver? observer, CancellationToken ct) =>
        (await _manifests.PutAsync(reference, mediaType, manifest, (observer ?? IPushObserver.None).Retrying, ct)).Digest;

    /// <summary>GET the manifest or index, verified against the reference's digest (when pinned) and the registry's Docker-Content-Digest.</summary>
    public Task<ManifestResponse> GetManifestAsync(ImageReference reference, IPullObserver? observer, CancellationToken ct) =>
        _manifests.GetAsync(reference, (observer ?? IPullObserver.None).Retrying, ct);

    /// <summary>HEAD on a manifest: true when the tag or digest exists.</summary>
    public Task<bool> ManifestExistsAsync(ImageReference reference, CancellationToken ct) => _manifests.ExistsAsync(reference, ct);

    /// <summary>
    /// The manifests in <paramref name="repository"/> whose <c>subject</c> is <paramref name="subjectDigest"/>
    /// (OCI 1.1 referrers API, or the fallback tag where the registry has no such API), filtered by artifact type.
    /// </summary>
    public async Task<IReadOnlyList<Descriptor>> ReferrersAsync(ImageReference repository, string subjectDigest, string? artifactType, CancellationToken ct) =>
        (await _manifests.ReferrersAsync(repository, subjectDigest, artifactType, null, ct)).Referrers;

    // ---------------------------------------------------------------------------------------------------- push

    public Task<PushResult> PushAsync(Image image, IReadOnlyList<ImageReference> targets, IPushObserver? observer, CancellationToken ct) =>
        PushAsync(PushContent.From(image), targets, observer, ct);

    /// <summary>
    /// Pushes <paramref name="content"/> to every reference in <paramref name="targets"/> (several tags, repositories or
    /// registries; a reference pinned by digest pushes the manifest by digest). Per repository: each blob (in parallel,
    /// at most <see cref="RegistryOptions.MaxParallelBlobs"/>) is skipped when the repository has it, mounted when
    /// another repository of the registry is known to have it (the base image's, or one pushed earlier in this call),
    /// else uploaded. The manifest is PUT only when every blob is confirmed present, then once more per additional tag,
    /// so a failed push never leaves a tag pointing at missing blobs.
    /// </summary>
    public async Task<PushResult> PushAsync(PushContent content, IReadOnlyList<ImageReference> targets, IPushObserver? observer, CancellationToken ct)
    {
        var (result, _) = await PushWithSubjectAsync(content, targets, observer, ct);
        return result;
    }

    /// <summary>
    /// Pushes a manifest that has a <c>subject</c> (an SBOM for an image) next to its subject, by digest, and makes it
    /// findable as a referrer: through the registry's referrers API when it indexed the subject (it says so with the
    /// <c>OCI-Subject</c> header), else through the fallback tag <c>sha256-HEX</c> of the subject.
    /// </summary>
    public async Task<PushResult> PushReferrerAsync(PushContent content, Descriptor referrer, string subjectDigest, ImageReference repository,
        IPushObserver? observer, CancellationToken ct)
    {
        var target = repository.WithDigest(content.Digest);
        var (result, indexed) = await PushWithSubjectAsync(content, [target], observer, ct);
        if (!indexed) await _manifests.AddToFallbackIndexAsync(repository, subjectDigest, referrer, (observer ?? IPushObserver.None).Retrying, ct);
        return result;
    }

    private async Task<(PushResult Result, bool SubjectIndexed)> PushWithSubjectAsync(PushContent content, IReadOnlyList<ImageReference> targets,
        IPushObserver? observer, CancellationToken ct)
    {
        observer ??= IPushObserver.None;
        if (targets.Count == 0) throw new RegistryException("nothing to push to: no image reference given");
        var before = Stats.Snapshot();
        var blobs = content.Blobs;
        var pushed = new List<(string Registry, string Repository)>();
        var indexed = true;
        foreach (var group in targets.GroupBy(t => (t.Registry, t.Repository)))
        {
            var (registry, repository) = group.Key;
            var mountSources = blobs.OfType<IBlobOrigin>().Where(o => o.Registry == registry).Select(o => o.Repository)
                .Concat(pushed.Where(p => p.Registry == registry).Select(p => p.Repository))
                .Where(r => r != repository).Distinct().ToList();
            IReadOnlyList<string> scopes = [RegistryBlobs.PushScope(repository), .. mountSources.Select(RegistryBlobs.PullScope)];
            await _transport.BaseAsync(registry, observer.Retrying, ct);

            await Parallel.ForEachAsync(blobs, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, Options.MaxParallelBlobs), CancellationToken = ct },
                async (blob, token) =>
                {
                    // Its own origin first, then the repositories the other blobs came from (the config of a pulled
                    // image sits next to its layers), then those pushed earlier in this call.
                    var candidates = new List<string>();
                    if (blob is IBlobOrigin origin && origin.Registry == registry && origin.Repository != repository) candidates.Add(origin.Repository);
                    candidates.AddRange(mountSources);
                    await EnsureBlobAsync(registry, repository, blob, scopes, candidates.Distinct().Take(3).ToList(), observer, token);
                });

            foreach (var target in group)
            {
                var (digest, subjectIndexed) = await _manifests.PutAsync(target, content.MediaType, content.ManifestBytes, observer.Retrying, ct);
                indexed &= subjectIndexed;
                observer.ManifestPushed(target, digest);
            }
            pushed.Add((registry, repository));
        }
        return (new PushResult(content.Digest, targets, Stats.Snapshot() - before), indexed);
    }

    private async Task EnsureBlobAsync(string registry, string repository, IBlob blob, IReadOnlyList<string> scopes,
        IReadOnlyList<string> mountFrom, IPushObserver observer, CancellationToken ct)
    {
        var d = blob.Descriptor;
        if (await _blobs.ExistsAsync(registry, repository, d, scopes, observer.Retrying, ct))
        {
            Stats.Skipped();
            observer.BlobSkipped(d);
            return;
        }
        Uri? session = null;
        foreach (var source in mountFrom)
        {
            var (mounted, opened) = await _blobs.MountAsync(registry, repository, d, source, scopes, observer.Retrying, ct);
            if (mounted)
            {
                Stats.Mounted();
                observer.BlobMounted(d, source);
                return;
            }
            if (opened is not null)
            {
                if (session is not null) await _blobs.AbandonAsync(registry, session, scopes, ct);
                session = opened;
            }
        }
        observer.BlobStarted(d);
        await _blobs.UploadAsync(registry, repository, blob, scopes, observer, session, ct);
        Stats.Uploaded();
        observer.BlobDone(d);
    }

    public void Dispose() => _transport.Dispose();
}
