using System.Formats.Tar;
using System.IO.Compression;
using System.Text;
using System.Text.Json.Nodes;
using Bento.Images.Oci;
using Bento.Images.Registry;

namespace Bento.Images.Tests.Registry;

/// <summary>
/// Small but valid OCI images built here (independent of the image assembler): a config, two gzip layers and one
/// uncompressed "weights" layer of a chosen size, all derived from a seed so different seeds give different blobs.
/// </summary>
public static class TestImages
{
    public static Image Create(int seed, int weightBytes = 300 * 1024, string architecture = "amd64")
    {
        var random = new Random(seed);
        var weights = new byte[weightBytes];
        random.NextBytes(weights);
        var data = new byte[48 * 1024];
        random.NextBytes(data);

        var layers = new List<Layer>
        {
            MakeLayer([("app/hello.txt", Encoding.UTF8.GetBytes($"hello from test image {seed}\n"))], gzip: true),
            MakeLayer([("app/data.bin", data)], gzip: true),
            MakeLayer([("model/weights.bin", weights)], gzip: false),
        };

        var diffIds = new JsonArray();
        foreach (var l in layers) diffIds.Add(l.DiffId);
        var config = new JsonObject
        {
            ["architecture"] = architecture,
            ["os"] = "linux",
            ["config"] = new JsonObject { ["Cmd"] = new JsonArray("/bin/true"), ["Env"] = new JsonArray($"SEED={seed}") },
            ["rootfs"] = new JsonObject { ["type"] = "layers", ["diff_ids"] = diffIds },
        };
        var configBytes = Encoding.UTF8.GetBytes(config.ToJsonString());
        var configDescriptor = new Descriptor(MediaTypes.OciConfig, Digests.Sha256(configBytes), configBytes.Length);

        var layerArray = new JsonArray();
        foreach (var l in layers)
            layerArray.Add(new JsonObject { ["mediaType"] = l.Blob.Descriptor.MediaType, ["digest"] = l.Blob.Descriptor.Digest, ["size"] = l.Blob.Descriptor.Size });
        var manifest = new JsonObject
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = MediaTypes.OciManifest,
            ["config"] = new JsonObject { ["mediaType"] = MediaTypes.OciConfig, ["digest"] = configDescriptor.Digest, ["size"] = configDescriptor.Size },
            ["layers"] = layerArray,
        };
        var manifestBytes = Encoding.UTF8.GetBytes(manifest.ToJsonString());
        var manifestDescriptor = new Descriptor(MediaTypes.OciManifest, Digests.Sha256(manifestBytes), manifestBytes.Length)
        {
            Platform = new Platform("linux", architecture),
        };
        return new Image(manifestDescriptor, manifestBytes, configDescriptor, configBytes, layers);
    }

    /// <summary>An OCI index over the given images (one entry per image, with its platform).</summary>
    public static (byte[] Bytes, string Digest) Index(params Image[] images)
    {
        var manifests = new JsonArray();
        foreach (var image in images)
            manifests.Add(new JsonObject
            {
                ["mediaType"] = image.Manifest.MediaType,
                ["digest"] = image.Manifest.Digest,
                ["size"] = image.Manifest.Size,
                ["platform"] = new JsonObject { ["os"] = image.Manifest.Platform!.Os, ["architecture"] = image.Manifest.Platform.Architecture },
            });
        var index = new JsonObject { ["schemaVersion"] = 2, ["mediaType"] = MediaTypes.OciIndex, ["manifests"] = manifests };
        var bytes = Encoding.UTF8.GetBytes(index.ToJsonString());
        return (bytes, Digests.Sha256(bytes));
    }

    public static IEnumerable<Descriptor> Blobs(Image image) => image.Layers.Select(l => l.Blob.Descriptor).Prepend(image.Config);

    private static Layer MakeLayer(IEnumerable<(string Path, byte[] Content)> files, bool gzip)
    {
        var tar = new MemoryStream();
        using (var writer = new TarWriter(tar, TarEntryFormat.Pax, leaveOpen: true))
        {
            foreach (var (path, content) in files)
            {
                var entry = new PaxTarEntry(TarEntryType.RegularFile, path)
                {
                    DataStream = new MemoryStream(content),
                    Mode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead,
                    ModificationTime = DateTimeOffset.UnixEpoch,
                };
                writer.WriteEntry(entry);
            }
        }
        var tarBytes = tar.ToArray();
        var diffId = Digests.Sha256(tarBytes);
        if (!gzip) return new Layer(new BytesBlob(new Descriptor(MediaTypes.OciLayer, diffId, tarBytes.Length), tarBytes), diffId);
        var compressed = new MemoryStream();
        using (var gz = new GZipStream(compressed, CompressionLevel.Fastest, leaveOpen: true)) gz.Write(tarBytes);
        var gzBytes = compressed.ToArray();
        return new Layer(new BytesBlob(new Descriptor(MediaTypes.OciLayerGzip, Digests.Sha256(gzBytes), gzBytes.Length), gzBytes), diffId);
    }
}

/// <summary>Records what a push reported (thread-safe), for assertions.</summary>
public sealed class RecordingObserver : IPushObserver, IPullObserver
{
    public System.Collections.Concurrent.ConcurrentQueue<string> Events { get; } = new();

    void IPushObserver.BlobStarted(Descriptor blob) => Events.Enqueue("started " + blob.Digest);
    void IPushObserver.BlobSkipped(Descriptor blob) => Events.Enqueue("skipped " + blob.Digest);
    void IPushObserver.BlobMounted(Descriptor blob, string from) => Events.Enqueue($"mounted {blob.Digest} from {from}");
    void IPushObserver.BlobDone(Descriptor blob) => Events.Enqueue("done " + blob.Digest);
    void IPushObserver.Retrying(string operation, int attempt, TimeSpan delay, string reason) => Events.Enqueue($"retry {operation} #{attempt}: {reason}");
    void IPushObserver.ManifestPushed(ImageReference reference, string digest) => Events.Enqueue($"manifest {reference} {digest}");
    void IPullObserver.BlobStarted(Descriptor blob) => Events.Enqueue("pull " + blob.Digest);
    void IPullObserver.BlobCached(Descriptor blob) => Events.Enqueue("cached " + blob.Digest);
    void IPullObserver.BlobDone(Descriptor blob) => Events.Enqueue("pulled " + blob.Digest);
    void IPullObserver.Retrying(string operation, int attempt, TimeSpan delay, string reason) => Events.Enqueue($"retry {operation} #{attempt}: {reason}");

    public int Count(string prefix) => Events.Count(e => e.StartsWith(prefix, StringComparison.Ordinal));

    public override string ToString() => string.Join("\n", Events);
}
