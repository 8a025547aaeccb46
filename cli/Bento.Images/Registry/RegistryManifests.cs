using System.Net;
using System.Text.Json;
using Bento.Images.Oci;
using Bento.Images.Registry.Http;

namespace Bento.Images.Registry;

/// <summary>A manifest or index as the registry served it, digest verified.</summary>
public sealed record ManifestResponse(string MediaType, byte[] Bytes, string Digest);

/// <summary>
/// The distribution API's manifest operations (get, put, exists) and the OCI 1.1 referrers API with its fallback tag
/// scheme (<c>sha256-HEX</c>) for registries that do not serve it; shared by image pushes, artifact pushes and pulls.
/// </summary>
internal sealed class RegistryManifests(RegistryTransport transport)
{
    public static readonly string[] Accept =
        [MediaTypes.OciManifest, MediaTypes.OciIndex, MediaTypes.DockerManifest, MediaTypes.DockerManifestList];

    /// <summary>PUT the manifest bytes under the reference's tag (or digest). Returns the digest and whether the
    /// registry said it indexed the manifest's <c>subject</c> (the <c>OCI-Subject</c> header of OCI 1.1).</summary>
    public async Task<(string Digest, bool SubjectIndexed)> PutAsync(ImageReference reference, string mediaType, byte[] manifest,
        Action<string, int, TimeSpan, string>? onRetry, CancellationToken ct)
    {
        var registry = reference.Registry;
        var root = await transport.BaseAsync(registry, onRetry, ct);
        var expected = Digests.Sha256(manifest);
        if (reference.Digest is { } pinned && pinned != expected)
            throw new RegistryException($"cannot push to {reference}: the manifest's digest is {expected}");
        var uri = new Uri(root, $"v2/{reference.Repository}/manifests/{reference.Tag ?? reference.Digest}");
        var content = UploadContent.FromBytes(manifest, mediaType, transport.Stats, null);
        using var response = await transport.SendRetriedAsync(HttpMethod.Put, uri, registry, [RegistryBlobs.PushScope(reference.Repository)],
            $"pushing the manifest to {reference}", onRetry, ct, content);
        if (response.StatusCode is HttpStatusCode.Created or HttpStatusCode.OK or HttpStatusCode.Accepted or HttpStatusCode.NoContent)
        {
            var reported = response.Headers.TryGetValues("Docker-Content-Digest", out var values) ? values.First() : expected;
            if (reported != expected && reported.StartsWith("sha256:", StringComparison.Ordinal))
                throw new DigestMismatchException($"registry {registry} stored the manifest for {reference} as {reported}, not {expected}");
            return (expected, response.Headers.Contains("OCI-Subject"));
        }
        var (text, code) = await RegistryErrors.DescribeAsync(response, ct);
        if (code == "MANIFEST_BLOB_UNKNOWN")
            throw new RegistryException($"registry {registry} refused the manifest for {reference}: it references a blob the repository does not have ({text})", response.StatusCode, code);
        throw new RegistryException($"pushing the manifest to {reference} failed: {text}", response.StatusCode, code);
    }

    /// <summary>
    /// GET the manifest or index (Accept: OCI and Docker types, or <paramref name="accept"/>), verified against the
    /// reference's digest (when pinned) and the registry's Docker-Content-Digest.
    /// </summary>
    public async Task<ManifestResponse> GetAsync(ImageReference reference, Action<string, int, TimeSpan, string>? onRetry, CancellationToken ct,
        IReadOnlyList<string>? accept = null)
    {
        var registry = reference.Registry;
        var root = await transport.BaseAsync(registry, onRetry, ct);
        var uri = new Uri(root, $"v2/{reference.Repository}/manifests/{reference.ManifestReference}");
        using var response = await transport.SendRetriedAsync(HttpMethod.Get, uri, registry, [RegistryBlobs.PullScope(reference.Repository)],
            $"getting the manifest of {reference}", onRetry, ct, configure: request =>
            {
                foreach (var type in accept ?? Accept) request.Headers.Accept.Add(new(type));
            });
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            var (text, code) = await RegistryErrors.DescribeAsync(response, ct);
            throw new RegistryNotFoundException(code == "NAME_UNKNOWN"
                ? $"repository {reference.Name} not found ({text})"
                : $"{reference} not found: no manifest for '{reference.ManifestReference}' in {reference.Name} ({text})", code);
        }
        if (response.StatusCode != HttpStatusCode.OK)
            throw await RegistryBlobs.UnexpectedAsync(registry, response, $"GET {RegistryRequest.Show(uri)}", ct);
        var bytes = await response.Content.ReadAsByteArrayAsync(ct);
        var digest = reference.Digest is { } pinned ? Digests.Compute(bytes, pinned) : Digests.Sha256(bytes);
        if (reference.Digest is { } want && want != digest)
            throw new DigestMismatchException($"the manifest served for {reference} does not match digest {want} (got {digest})");
        if (response.Headers.TryGetValues("Docker-Content-Digest", out var reported) && reported.First() is var r
            && r.StartsWith("sha256:", StringComparison.Ordinal) && r != Digests.Sha256(bytes))
            throw new DigestMismatchException($"the manifest served for {reference} does not match the digest the registry announced ({r}; got {Digests.Sha256(bytes)})");
        var mediaType = response.Content.Headers.ContentType?.MediaType;
        if (mediaType is null or "application/json" or "text/plain") mediaType = ImageManifests.MediaTypeOf(bytes) ?? mediaType ?? "application/json";
        return new ManifestResponse(mediaType, bytes, digest);
    }

    /// <summary>HEAD on a manifest: true when the tag or digest exists.</summary>
    public async Task<bool> ExistsAsync(ImageReference reference, CancellationToken ct)
    {
        var registry = reference.Registry;
        var root = await transport.BaseAsync(registry, null, ct);
        var uri = new Uri(root, $"v2/{reference.Repository}/manifests/{reference.ManifestReference}");
        using var response = await transport.SendRetriedAsync(HttpMethod.Head, uri, registry, [RegistryBlobs.PullScope(reference.Repository)],
            $"checking {reference}", null, ct, configure: request =>
            {
                foreach (var type in Accept) request.Headers.Accept.Add(new(type));
            });
        if (response.StatusCode == HttpStatusCode.OK) return true;
        if (response.StatusCode == HttpStatusCode.NotFound) return false;
        throw await RegistryBlobs.UnexpectedAsync(registry, response, $"HEAD {RegistryRequest.Show(uri)}", ct);
    }

    /// <summary>The tag the OCI 1.1 fallback scheme keeps a subject's referrers under: <c>sha256-HEX</c>.</summary>
    public static string FallbackTag(string subjectDigest) => subjectDigest.Replace(':', '-');

    /// <summary>
    /// The manifests whose <c>subject</c> is <paramref name="subjectDigest"/>, as descriptors (artifactType and
    /// annotations included): from the referrers API (<c>GET /v2/NAME/referrers/DIGEST</c>), or, where the registry
    /// does not serve it (404), from the fallback tag's index. Filtered by <paramref name="artifactType"/> when given.
    /// </summary>
    public async Task<(IReadOnlyList<Descriptor> Referrers, bool FromApi)> ReferrersAsync(ImageReference repository, string subjectDigest, string? artifactType,
        Action<string, int, TimeSpan, string>? onRetry, CancellationToken ct)
    {
        var registry = repository.Registry;
        var root = await transport.BaseAsync(registry, onRetry, ct);
        var query = artifactType is null ? "" : $"?artifactType={Uri.EscapeDataString(artifactType)}";
        var uri = new Uri(root, $"v2/{repository.Repository}/referrers/{subjectDigest}{query}");
        using (var response = await transport.SendRetriedAsync(HttpMethod.Get, uri, registry, [RegistryBlobs.PullScope(repository.Repository)],
                   $"listing the referrers of {repository.Name}@{subjectDigest}", onRetry, ct, configure: r => r.Headers.Accept.Add(new(MediaTypes.OciIndex))))
        {
            if (response.StatusCode == HttpStatusCode.OK && response.Content.Headers.ContentType?.MediaType == MediaTypes.OciIndex)
                return (Filter(ParseIndex(await response.Content.ReadAsByteArrayAsync(ct), $"the referrers of {repository.Name}@{subjectDigest}"), artifactType), true);
            if (response.StatusCode is not (HttpStatusCode.NotFound or HttpStatusCode.OK or HttpStatusCode.MethodNotAllowed or HttpStatusCode.BadRequest))
                throw await RegistryBlobs.UnexpectedAsync(registry, response, $"GET {RegistryRequest.Show(uri)}", ct);
        }
        var fallback = await FallbackIndexAsync(repository, subjectDigest, onRetry, ct);
        return (Filter(fallback?.Manifests.Select(d => d.ToDescriptor()).ToList() ?? [], artifactType), false);
    }

    /// <summary>
    /// Makes a pushed referrer findable on a registry without the referrers API: adds its descriptor to the index
    /// under the subject's fallback tag (read, add unless present, write back).
    /// </summary>
    public async Task AddToFallbackIndexAsync(ImageReference repository, string subjectDigest, Descriptor referrer,
        Action<string, int, TimeSpan, string>? onRetry, CancellationToken ct)
    {
        var index = await FallbackIndexAsync(repository, subjectDigest, onRetry, ct) ?? new IndexDocument { MediaType = MediaTypes.OciIndex };
        if (index.Manifests.Any(m => m.Digest == referrer.Digest)) return;
        index.Manifests.Add(DescriptorDocument.From(referrer));
        await PutAsync(repository.WithTag(FallbackTag(subjectDigest)), MediaTypes.OciIndex, OciJson.Serialize(index), onRetry, ct);
    }

    private async Task<IndexDocument?> FallbackIndexAsync(ImageReference repository, string subjectDigest, Action<string, int, TimeSpan, string>? onRetry, CancellationToken ct)
    {
        try
        {
            var response = await GetAsync(repository.WithTag(FallbackTag(subjectDigest)), onRetry, ct, [MediaTypes.OciIndex]);
            return OciJson.Parse<IndexDocument>(response.Bytes, $"the referrers index {repository.Name}:{FallbackTag(subjectDigest)}");
        }
        catch (RegistryNotFoundException) { return null; }
    }

    private static List<Descriptor> ParseIndex(byte[] bytes, string what) =>
        OciJson.Parse<IndexDocument>(bytes, what).Manifests.Select(d => d.ToDescriptor()).ToList();

    private static List<Descriptor> Filter(List<Descriptor> all, string? artifactType) =>
        artifactType is null ? all : all.Where(r => r.ArtifactType == artifactType).ToList();
}
