using System.Formats.Tar;
using System.Text.Json.Serialization;
using Bento.Core;
using Bento.Core.Tar;
using Bento.Images.Layers;
using Bento.Images.Oci;

namespace Bento.Images.Layout;

/// <summary>
/// Writes the tarball <c>docker load</c> reads, in the dual format <c>docker save</c> writes since Docker 25: an OCI
/// image layout (<c>oci-layout</c>, <c>index.json</c>, <c>blobs/sha256/…</c>) plus Docker's <c>manifest.json</c>
/// (<c>[{Config, RepoTags, Layers}]</c>, pointing into <c>blobs/</c>), so older engines, newer engines, skopeo
/// (<c>docker-archive:</c>) and OCI tools all read it. The file is written next to its destination and renamed into
/// place when complete.
/// </summary>
public sealed class DockerArchiveSink(string path) : IImageSink
{
    public string Path { get; } = System.IO.Path.GetFullPath(path);

    /// <param name="tags">Repository tags (e.g. "tiny-llama:3fa1…") the engine gives the image when loading it.</param>
    public async Task<Publication> WriteAsync(Image image, IReadOnlyList<string> tags, CancellationToken ct)
    {
        if (System.IO.Directory.Exists(Path)) throw new BentoException($"docker-archive:{Path}: is a directory; give a file name");
        var dir = System.IO.Path.GetDirectoryName(Path)!;
        if (!System.IO.Directory.Exists(dir)) throw new BentoException($"docker-archive:{Path}: the directory {dir} does not exist");
        var temp = $"{Path}.tmp-{Environment.ProcessId}-{Guid.NewGuid():N}";
        try
        {
            await using (var file = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20, FileOptions.Asynchronous))
            {
                await DockerArchive.WriteAsync(file, image, tags, ct);
                await file.FlushAsync(ct);
                file.Flush(flushToDisk: true);
            }
            File.Move(temp, Path, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Bento.Core.IO.AtomicFile.TryDelete(temp);
            throw new BentoException($"writing docker-archive:{Path} failed: {OciLayoutSink.Describe(e)}", e);
        }
        catch
        {
            Bento.Core.IO.AtomicFile.TryDelete(temp);
            throw;
        }
        return new Publication(Publication.DockerArchive, Path, image.Manifest.Digest, tags);
    }
}

/// <summary>The docker-archive tar itself, streamed to any stream (a file, or a pipe to a Docker engine).</summary>
public static class DockerArchive
{
    private sealed class ManifestEntry
    {
        [JsonPropertyName("Config")] public string Config { get; set; } = "";
        [JsonPropertyName("RepoTags")] public List<string>? RepoTags { get; set; }
        [JsonPropertyName("Layers")] public List<string> Layers { get; set; } = [];
    }

    private static string BlobName(string digest) => $"blobs/sha256/{OciDigest.Hex(digest)}";

    public static async Task WriteAsync(Stream output, Image image, IReadOnlyList<string> tags, CancellationToken ct)
    {
        var index = new IndexDocument();
        var names = tags.Count == 0 ? [null] : tags.Select(t => (string?)t).ToList();
        foreach (var name in names)
        {
            var annotations = new Dictionary<string, string>();
            if (name is not null)
            {
                annotations[OciAnnotations.ContainerdImageName] = name;
                var colon = name.LastIndexOf(':');
                if (colon > name.LastIndexOf('/')) annotations[OciAnnotations.RefName] = name[(colon + 1)..];
            }
            index.Manifests.Add(DescriptorDocument.From(image.Manifest with { Annotations = annotations.Count == 0 ? null : annotations, Platform = null }));
        }
        var manifest = new List<ManifestEntry>
        {
            new()
            {
                Config = BlobName(image.Config.Digest),
                RepoTags = tags.Count == 0 ? null : tags.ToList(),
                Layers = image.Layers.Select(l => BlobName(l.Blob.Descriptor.Digest)).ToList(),
            },
        };

        await using var writer = new DeterministicTarWriter(output, DateTimeOffset.UnixEpoch);
        await WriteBytesAsync(writer, "oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}"u8.ToArray(), ct);
        await WriteBytesAsync(writer, "index.json", OciJson.Serialize(index), ct);
        await WriteBytesAsync(writer, "manifest.json", OciJson.Serialize(manifest), ct);
        await writer.WriteDirectoryAsync("blobs/", ct);
        await writer.WriteDirectoryAsync("blobs/sha256/", ct);
        foreach (var blob in OciLayoutSink.AllBlobs(image))
        {
            await using var data = new KnownLengthStream(await BlobCopy.OpenVerifiedAsync(blob, ct), blob.Descriptor.Size, $"blob {blob.Descriptor.Digest}");
            await writer.WriteFileAsync(BlobName(blob.Descriptor.Digest), data, executable: false, ct);
        }
    }

    private static async Task WriteBytesAsync(DeterministicTarWriter writer, string name, byte[] bytes, CancellationToken ct)
    {
        await using var data = new MemoryStream(bytes, writable: false);
        await writer.WriteFileAsync(name, data, executable: false, ct);
    }
}
