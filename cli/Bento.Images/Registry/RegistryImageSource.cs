using System.Text.Json;
using Bento.Core.Store;
using Bento.Images.Oci;

namespace Bento.Images.Registry;

/// <summary>
/// A base image from a registry: resolves the tag (or digest), picks the platform's manifest from an index or manifest
/// list, then fetches the config and every layer into the local cache (<c>$BENTO_HOME/images/blobs/sha256/HEX</c>),
/// each verified against its digest while it streams. Blobs already cached are not downloaded again, and a reference
/// pinned by digest whose manifest is cached needs no request at all. The returned layers stream from the cache.
/// </summary>
public sealed class RegistryImageSource : IImageSource
{
    private readonly RegistryClient _client;
    private readonly IPullObserver _observer;

    public RegistryImageSource(RegistryClient client, ImageReference reference, IPullObserver? observer = null)
    {
        _client = client;
        Reference = reference;
        _observer = observer ?? IPullObserver.None;
        Cache = new BlobCache(client.Options.CacheDirectory ?? Path.Combine(BentoStore.Open().Root, "images"));
    }

    public ImageReference Reference { get; }

    public BlobCache Cache { get; }

    /// <summary>The platform's manifest digest and config, without downloading a layer (what <c>bento deploy</c> reads labels from).</summary>
    public async Task<(string Digest, byte[] Config)> GetConfigAsync(Platform platform, CancellationToken ct)
    {
        var r = await ResolveAsync(platform, ct);
        return (r.Manifest.Digest, r.Config);
    }

    private sealed record Resolved(ManifestResponse Manifest, Platform? DescriptorPlatform, Descriptor ConfigDescriptor, IReadOnlyList<Descriptor> LayerDescriptors,
        byte[] Config, Platform? ConfigPlatform, IReadOnlyList<string> DiffIds);

    private async Task<Resolved> ResolveAsync(Platform platform, CancellationToken ct)
    {
        var top = await ManifestAsync(Reference, ct);
        var manifest = top;
        var descriptorPlatform = (Platform?)null;
        if (ImageManifests.IsIndex(top.MediaType))
        {
            var entries = ImageManifests.ParseIndex(top.Bytes, Reference);
            var match = ImageManifests.SelectPlatform(entries, platform);
            if (match is null)
            {
                var available = entries.Where(e => e.Platform is { Os: not "unknown" }).Select(e => e.Platform!.ToString()).Distinct().ToList();
                throw new RegistryException($"no {platform} image in {Reference} (available: {(available.Count == 0 ? "none" : string.Join(", ", available))})");
            }
            manifest = await ManifestAsync(Reference.WithDigest(match.Digest), ct);
            if (ImageManifests.IsIndex(manifest.MediaType))
                throw new RegistryException($"{Reference}: the {platform} entry of the index is itself an index (nested indexes are not supported)");
            descriptorPlatform = match.Platform;
        }
        if (manifest.MediaType is not (MediaTypes.OciManifest or MediaTypes.DockerManifest))
            throw new RegistryException($"{Reference} has an unsupported manifest type '{manifest.MediaType}' (expected an OCI or Docker v2 image manifest)");

        var (configDescriptor, layerDescriptors) = ImageManifests.ParseManifest(manifest.Bytes, Reference);
        var config = await ConfigAsync(configDescriptor, ct);
        var (configPlatform, diffIds) = ImageManifests.ParseConfig(config, Reference);
        if (configPlatform is not null && !ImageManifests.Matches(configPlatform, platform))
            throw new RegistryException($"no {platform} image in {Reference} (available: {configPlatform})");
        if (diffIds.Count != layerDescriptors.Count)
            throw new RegistryException($"{Reference} is inconsistent: {layerDescriptors.Count} layers but {diffIds.Count} diff_ids in its config");

        return new Resolved(manifest, descriptorPlatform, configDescriptor, layerDescriptors, config, configPlatform, diffIds);
    }

    public async Task<Image> GetAsync(Platform platform, CancellationToken ct)
    {
        var (manifest, descriptorPlatform, configDescriptor, layerDescriptors, config, configPlatform, diffIds) = await ResolveAsync(platform, ct);
        var layers = new Layer[layerDescriptors.Count];
        await Parallel.ForEachAsync(Enumerable.Range(0, layers.Length),
            new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, _client.Options.MaxParallelBlobs), CancellationToken = ct },
            async (i, token) =>
            {
                var d = layerDescriptors[i];
                var path = await FetchBlobAsync(d, token);
                layers[i] = new Layer(new CachedBlob(d, path, Reference.Registry, Reference.Repository), diffIds[i]);
            });

        var manifestDescriptor = new Descriptor(manifest.MediaType, manifest.Digest, manifest.Bytes.Length)
        {
            Platform = descriptorPlatform ?? configPlatform ?? platform,
        };
        return new Image(manifestDescriptor, manifest.Bytes, configDescriptor, config, layers);
    }

    private async Task<ManifestResponse> ManifestAsync(ImageReference reference, CancellationToken ct)
    {
        // Pinned by digest: content-addressed, so a cached copy is as good as the registry's.
        if (reference.Digest is { } digest && Cache.TryRead(digest) is { } cached && ImageManifests.MediaTypeOf(cached) is { } type)
            return new ManifestResponse(type, cached, digest);
        var response = await _client.GetManifestAsync(reference, _observer, ct);
        Cache.Write(response.Digest, response.Bytes);
        return response;
    }

    private async Task<byte[]> ConfigAsync(Descriptor d, CancellationToken ct)
    {
        if (Cache.TryRead(d.Digest) is { } cached && cached.Length == d.Size)
        {
            _client.Stats.FromCache();
            return cached;
        }
        var bytes = await _client.GetSmallBlobAsync(Reference, d, _observer, ct);
        Cache.Write(d.Digest, bytes);
        return bytes;
    }

    private async Task<string> FetchBlobAsync(Descriptor d, CancellationToken ct)
    {
        var path = Cache.PathFor(d.Digest);
        if (Cache.Has(d))
        {
            _client.Stats.FromCache();
            _observer.BlobCached(d);
            return path;
        }
        _observer.BlobStarted(d);
        await _client.DownloadBlobAsync(Reference, d, path, _observer, ct);
        _client.Stats.Downloaded();
        _observer.BlobDone(d);
        return path;
    }
}

/// <summary>
/// Pulled blobs by digest: <c>DIR/blobs/ALGORITHM/HEX</c>. Only verified content is ever renamed into place. Small
/// blobs (manifests, configs) are verified again whenever they are read (a damaged copy is a miss, and the next write
/// replaces it); a layer that exists with the right size is trusted here and verified as it is read
/// (<see cref="CachedBlob"/>).
/// </summary>
public sealed class BlobCache(string root)
{
    public string Root { get; } = Path.GetFullPath(root);

    public string PathFor(string digest) => Path.Combine(Root, "blobs", Digests.Algorithm(digest), Digests.Hex(digest));

    public bool Has(Descriptor d)
    {
        var info = new FileInfo(PathFor(d.Digest));
        return info.Exists && info.Length == d.Size;
    }

    /// <summary>The cached bytes of a small blob, or null when absent, unreadable or damaged (they do not hash to <paramref name="digest"/>).</summary>
    public byte[]? TryRead(string digest)
    {
        var path = PathFor(digest);
        try
        {
            if (!File.Exists(path) || new FileInfo(path).Length > RegistryClient.MaxManifestBytes) return null;
            var bytes = File.ReadAllBytes(path);
            return Digests.Compute(bytes, digest) == digest ? bytes : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or RegistryException) { return null; }
    }

    /// <summary>Stores already-verified bytes under their digest (atomic rename; a concurrent writer wins harmlessly). A
    /// copy already there is kept only if it is intact.</summary>
    public void Write(string digest, byte[] bytes)
    {
        var path = PathFor(digest);
        if (TryRead(digest) is not null) return;
        var dir = Path.GetDirectoryName(path)!;
        try
        {
            Directory.CreateDirectory(dir);
            var temp = Path.Combine(dir, $".{Path.GetFileName(path)}.{Environment.ProcessId}.{Guid.NewGuid():N}.part");
            File.WriteAllBytes(temp, bytes);
            File.Move(temp, path, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new RegistryException($"cannot write to the image cache {Root}: {Layout.OciLayoutSink.Describe(e)}", inner: e);
        }
    }
}

/// <summary>Reading manifests, indexes and configs as far as pulling needs.</summary>
internal static class ImageManifests
{
    public static bool IsIndex(string mediaType) => mediaType is MediaTypes.OciIndex or MediaTypes.DockerManifestList;

    /// <summary>The <c>mediaType</c> field, or a guess from the shape (OCI manifests may omit it).</summary>
    public static string? MediaTypeOf(byte[] bytes)
    {
        try
        {
            using var doc = JsonDocument.Parse(bytes);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) return null;
            if (root.TryGetProperty("mediaType", out var m) && m.ValueKind == JsonValueKind.String) return m.GetString();
            if (root.TryGetProperty("manifests", out _)) return MediaTypes.OciIndex;
            if (root.TryGetProperty("config", out _) && root.TryGetProperty("layers", out _)) return MediaTypes.OciManifest;
            if (root.TryGetProperty("schemaVersion", out var v) && v.TryGetInt32(out var n) && n == 1) return "application/vnd.docker.distribution.manifest.v1+json";
            return null;
        }
        catch (JsonException) { return null; }
    }

    public static IReadOnlyList<Descriptor> ParseIndex(byte[] bytes, ImageReference reference)
    {
        try
        {
            using var doc = JsonDocument.Parse(bytes);
            if (!doc.RootElement.TryGetProperty("manifests", out var manifests) || manifests.ValueKind != JsonValueKind.Array)
                throw new JsonException("no manifests array");
            return manifests.EnumerateArray().Select(ParseDescriptor).ToList();
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or KeyNotFoundException or FormatException)
        {
            throw new RegistryException($"the index of {reference} is malformed: {e.Message}");
        }
    }

    public static (Descriptor Config, IReadOnlyList<Descriptor> Layers) ParseManifest(byte[] bytes, ImageReference reference)
    {
        try
        {
            using var doc = JsonDocument.Parse(bytes);
            var root = doc.RootElement;
            var config = ParseDescriptor(root.GetProperty("config"));
            var layers = root.TryGetProperty("layers", out var l) && l.ValueKind == JsonValueKind.Array
                ? l.EnumerateArray().Select(ParseDescriptor).ToList()
                : [];
            return (config, layers);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or KeyNotFoundException or FormatException)
        {
            throw new RegistryException($"the manifest of {reference} is malformed: {e.Message}");
        }
    }

    public static (Platform? Platform, IReadOnlyList<string> DiffIds) ParseConfig(byte[] bytes, ImageReference reference)
    {
        try
        {
            using var doc = JsonDocument.Parse(bytes);
            var root = doc.RootElement;
            var os = Text(root, "os");
            var arch = Text(root, "architecture");
            var platform = os is { Length: > 0 } && arch is { Length: > 0 } ? new Platform(os, arch, Text(root, "variant")) : null;
            var diffIds = root.TryGetProperty("rootfs", out var rootfs) && rootfs.TryGetProperty("diff_ids", out var ids) && ids.ValueKind == JsonValueKind.Array
                ? ids.EnumerateArray().Select(x => x.GetString() ?? throw new JsonException("null diff_id")).ToList()
                : [];
            return (platform, diffIds);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or KeyNotFoundException)
        {
            throw new RegistryException($"the config of {reference} is malformed: {e.Message}");
        }
    }

    private static Descriptor ParseDescriptor(JsonElement e)
    {
        var mediaType = Text(e, "mediaType") ?? "";
        var digest = Text(e, "digest") ?? throw new JsonException("a descriptor has no digest");
        if (!ImageReference.TryParse("x@" + digest, out _, out _)) throw new JsonException($"invalid digest '{digest}'");
        var size = e.TryGetProperty("size", out var s) && s.TryGetInt64(out var n) && n >= 0 ? n : throw new JsonException($"descriptor {digest} has no valid size");
        Platform? platform = null;
        if (e.TryGetProperty("platform", out var p) && p.ValueKind == JsonValueKind.Object)
            platform = new Platform(Text(p, "os") ?? "", Text(p, "architecture") ?? "", Text(p, "variant"));
        Dictionary<string, string>? annotations = null;
        if (e.TryGetProperty("annotations", out var a) && a.ValueKind == JsonValueKind.Object)
            annotations = a.EnumerateObject().Where(x => x.Value.ValueKind == JsonValueKind.String).ToDictionary(x => x.Name, x => x.Value.GetString()!);
        return new Descriptor(mediaType, digest, size) { Platform = platform, Annotations = annotations };
    }

    private static string? Text(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    /// <summary>The first entry for the platform: OS and architecture equal (aliases such as x86_64 accepted), and the
    /// variant equal when one is asked for (arm64's "v8" and no variant are the same).</summary>
    public static Descriptor? SelectPlatform(IReadOnlyList<Descriptor> entries, Platform wanted) =>
        entries.FirstOrDefault(e => e.Platform is { } p && Matches(p, wanted) && Normalize(p).Variant == Normalize(wanted).Variant)
        ?? entries.FirstOrDefault(e => e.Platform is { } p && Matches(p, wanted));

    public static bool Matches(Platform have, Platform wanted)
    {
        var h = Normalize(have);
        var w = Normalize(wanted);
        return h.Os == w.Os && h.Architecture == w.Architecture && (w.Variant is null || h.Variant == w.Variant);
    }

    private static Platform Normalize(Platform p)
    {
        var arch = p.Architecture.ToLowerInvariant() switch
        {
            "x86_64" or "x86-64" => "amd64",
            "aarch64" => "arm64",
            "armhf" => "arm",
            var a => a,
        };
        var variant = string.IsNullOrEmpty(p.Variant) ? null : p.Variant.ToLowerInvariant();
        if (arch == "arm64" && variant == "v8") variant = null;
        if (arch == "arm" && variant is null && p.Architecture.Equals("armhf", StringComparison.OrdinalIgnoreCase)) variant = "v7";
        return new Platform(p.Os.ToLowerInvariant(), arch, variant);
    }
}
