namespace Bento.Images.Oci;

/// <summary>An OCI content descriptor: what a manifest or index says about a blob.</summary>
public sealed record Descriptor(string MediaType, string Digest, long Size)
{
    public IReadOnlyDictionary<string, string>? Annotations { get; init; }
    public Platform? Platform { get; init; }

    /// <summary>For a descriptor of an artifact manifest (a referrer, an index entry): its <c>artifactType</c>.</summary>
    public string? ArtifactType { get; init; }
}

public sealed record Platform(string Os, string Architecture, string? Variant = null)
{
    public override string ToString() => Variant is null ? $"{Os}/{Architecture}" : $"{Os}/{Architecture}/{Variant}";
}

/// <summary>
/// A blob an image references: its descriptor is known up front (digest and size computed once, e.g. while the layer
/// was written or when it was pulled and verified); its bytes are streamed on demand, never held in memory.
/// </summary>
public interface IBlob
{
    Descriptor Descriptor { get; }
    Task<Stream> OpenReadAsync(CancellationToken ct);
}

/// <summary>A layer: the blob as stored (maybe compressed) and the digest of its uncompressed tar (config rootfs.diff_ids).</summary>
public sealed record Layer(IBlob Blob, string DiffId);

/// <summary>
/// A complete single-platform image as every sink receives it: the exact manifest and config bytes (their digests are
/// the image's identity, so sinks must write them byte for byte) and the layers in order.
/// </summary>
public sealed record Image(Descriptor Manifest, byte[] ManifestBytes, Descriptor Config, byte[] ConfigBytes, IReadOnlyList<Layer> Layers);

/// <summary>Where an image goes: an OCI layout, a docker-archive tarball, a registry, a Docker engine.</summary>
public interface IImageSink
{
    /// <param name="tags">References or tags to record (e.g. "repo:tag"); sinks that cannot tag ignore what they cannot use.</param>
    /// <returns>Where the image now is and under which names.</returns>
    Task<Publication> WriteAsync(Image image, IReadOnlyList<string> tags, CancellationToken ct);
}

/// <summary>Where a base image comes from: a registry (pulled, verified and cached by digest) or an OCI layout.</summary>
public interface IImageSource
{
    /// <exception cref="Bento.Core.BentoException">not found, unauthorised, no image for the platform, or a digest mismatch.</exception>
    Task<Image> GetAsync(Platform platform, CancellationToken ct);
}
