using Bento.Core;
using Bento.Images.Oci;

namespace Bento.Images.Layout;

/// <summary>
/// Reads an image from an OCI image layout directory (<c>oci:DIR[:REF]</c>, as skopeo and umoci write them): picks the
/// manifest by its <c>org.opencontainers.image.ref.name</c> (or the only one), descends through an index to the
/// requested platform, and checks every small blob's digest at once and every layer's size at once and digest when
/// it is read. A base image for another platform, a missing blob or a digest mismatch is a <see cref="BentoException"/>.
/// </summary>
public sealed class OciLayoutSource(string directory, string? reference = null) : IImageSource
{
    public string Directory { get; } = Path.GetFullPath(directory);

    public string? Reference { get; } = reference;

    /// <summary>The ref.name of the manifest that was picked (after <see cref="GetAsync"/>).</summary>
    public string? ResolvedReference { get; private set; }

    public async Task<Image> GetAsync(Platform platform, CancellationToken ct)
    {
        var where = $"oci:{Directory}" + (Reference is null ? "" : $":{Reference}");
        if (!File.Exists(Path.Combine(Directory, "oci-layout")) || !File.Exists(Path.Combine(Directory, "index.json")))
            throw new BentoException($"{where}: not an OCI image layout (no oci-layout or index.json in {Directory})");
        var index = OciJson.Parse<IndexDocument>(await File.ReadAllBytesAsync(Path.Combine(Directory, "index.json"), ct), $"{Directory}/index.json");

        var candidates = Reference is null
            ? index.Manifests
            : index.Manifests.Where(m => m.Annotations?.GetValueOrDefault(OciAnnotations.RefName) == Reference).ToList();
        var names = index.Manifests.Select(m => m.Annotations?.GetValueOrDefault(OciAnnotations.RefName)).OfType<string>().Distinct().Order(StringComparer.Ordinal).ToList();
        if (candidates.Count == 0)
            throw new BentoException(Reference is null
                ? $"{where}: the layout holds no image"
                : $"{where}: no image named '{Reference}' in the layout" + (names.Count > 0 ? $" (it has: {string.Join(", ", names)})" : " (its images have no ref.name)"));
        if (candidates.Count > 1)
            throw new BentoException($"{where}: the layout holds {candidates.Count} images; name one as oci:{Directory}:REF" + (names.Count > 0 ? $" (one of: {string.Join(", ", names)})" : ""));
        ResolvedReference = candidates[0].Annotations?.GetValueOrDefault(OciAnnotations.RefName);

        var descriptor = candidates[0].ToDescriptor();
        for (var depth = 0; IsIndex(descriptor.MediaType); depth++)
        {
            if (depth > 4) throw new BentoException($"{where}: indexes nested too deeply");
            var nested = OciJson.Parse<IndexDocument>(await ReadSmallBlobAsync(descriptor, where, ct), $"{where}: index {descriptor.Digest}");
            var match = nested.Manifests.FirstOrDefault(m => m.Platform is { } p && Matches(new Platform(p.Os, p.Architecture, p.Variant), platform));
            if (match is null)
            {
                var available = nested.Manifests.Where(m => m.Platform is not null).Select(m => new Platform(m.Platform!.Os, m.Platform.Architecture, m.Platform.Variant).ToString());
                throw new BentoException($"{where}: no image for {platform} (the index has: {string.Join(", ", available)})");
            }
            descriptor = match.ToDescriptor();
        }
        if (descriptor.MediaType is not (MediaTypes.OciManifest or MediaTypes.DockerManifest))
            throw new BentoException($"{where}: unsupported manifest media type '{descriptor.MediaType}'");

        var manifestBytes = await ReadSmallBlobAsync(descriptor, where, ct);
        var manifest = OciJson.Parse<ManifestDocument>(manifestBytes, $"{where}: manifest {descriptor.Digest}");
        var configDescriptor = manifest.Config.ToDescriptor();
        var configBytes = await ReadSmallBlobAsync(configDescriptor, where, ct);
        var config = OciJson.Parse<ImageConfigDocument>(configBytes, $"{where}: config {configDescriptor.Digest}");
        var imagePlatform = new Platform(config.Os, config.Architecture, config.Variant);
        if (!Matches(imagePlatform, platform))
            throw new BentoException($"{where}: the base image is for {imagePlatform}, not {platform}");
        if (config.RootFs.DiffIds.Count != manifest.Layers.Count)
            throw new BentoException($"{where}: the config lists {config.RootFs.DiffIds.Count} diff_ids for {manifest.Layers.Count} layers");

        var layers = new List<Layer>();
        for (var i = 0; i < manifest.Layers.Count; i++)
        {
            var layer = manifest.Layers[i].ToDescriptor();
            var path = BlobPath(layer, where);
            var info = new FileInfo(path);
            if (!info.Exists) throw new BentoException($"{where}: layer blob {layer.Digest} is missing ({path})");
            if (info.Length != layer.Size)
                throw new BentoException($"digest mismatch: {where}: layer blob {layer.Digest} has {info.Length} bytes, its descriptor says {layer.Size}");
            layers.Add(new Layer(new FileBlob(layer, path), config.RootFs.DiffIds[i]));
        }
        return new Image(descriptor with { Annotations = null, Platform = null }, manifestBytes, configDescriptor, configBytes, layers);
    }

    private static bool IsIndex(string mediaType) => mediaType is MediaTypes.OciIndex or MediaTypes.DockerManifestList;

    internal static bool Matches(Platform actual, Platform wanted) =>
        actual.Os == wanted.Os && actual.Architecture == wanted.Architecture &&
        (wanted.Variant is null || actual.Variant is null || actual.Variant == wanted.Variant);

    private string BlobPath(Descriptor d, string where)
    {
        if (!OciDigest.IsSha256(d.Digest)) throw new BentoException($"{where}: unsupported digest '{d.Digest}' (only sha256 is supported)");
        return Path.Combine(Directory, "blobs", "sha256", OciDigest.Hex(d.Digest));
    }

    /// <summary>Reads a manifest, index or config blob (at most 16 MiB) and checks its size and digest.</summary>
    private async Task<byte[]> ReadSmallBlobAsync(Descriptor d, string where, CancellationToken ct)
    {
        var path = BlobPath(d, where);
        if (d.Size > 16 << 20) throw new BentoException($"{where}: blob {d.Digest} is too large for a manifest or config ({d.Size} bytes)");
        if (!File.Exists(path)) throw new BentoException($"{where}: blob {d.Digest} is missing ({path})");
        var bytes = await File.ReadAllBytesAsync(path, ct);
        if (bytes.Length != d.Size || OciDigest.Of(bytes) != d.Digest)
            throw new BentoException($"digest mismatch: {where}: blob {d.Digest} is corrupted (its content hashes to {OciDigest.Of(bytes)}, {bytes.Length} bytes)");
        return bytes;
    }
}
