using Bento.Core;
using Bento.Images.Oci;

namespace Bento.Images.Layout;

/// <summary>
/// Writes an image into an OCI image layout directory (<c>oci-layout</c>, <c>index.json</c>, <c>blobs/sha256/…</c>),
/// creating it or adding to an existing layout (an image already there under the same ref.name is replaced; other
/// images stay). Blobs are streamed into a private temp directory inside the layout and renamed into place (blobs
/// already present are kept); <c>index.json</c> is replaced last, by rename, so a reader sees the old layout or the new
/// one, never a half-written one. On failure (a full disk, say) the blobs this write added are removed again.
/// </summary>
public sealed class OciLayoutSink(string directory) : IImageSink
{
    public string Directory { get; } = Path.GetFullPath(directory);

    /// <param name="tags">The ref.name annotations to give the image in index.json (e.g. "latest"); may be empty.</param>
    public async Task<Publication> WriteAsync(Image image, IReadOnlyList<string> tags, CancellationToken ct)
    {
        var where = $"oci:{Directory}";
        var created = new List<string>();
        string? temp = null;
        var fresh = !System.IO.Directory.Exists(Directory);
        try
        {
            var blobs = Path.Combine(Directory, "blobs", "sha256");
            CheckDestination(where);
            System.IO.Directory.CreateDirectory(blobs);
            temp = Path.Combine(Directory, $".bento-tmp-{Environment.ProcessId}-{Guid.NewGuid():N}");
            System.IO.Directory.CreateDirectory(temp);

            foreach (var blob in AllBlobs(image))
            {
                var target = Path.Combine(blobs, OciDigest.Hex(blob.Descriptor.Digest));
                if (File.Exists(target) && new FileInfo(target).Length == blob.Descriptor.Size) continue;
                var part = Path.Combine(temp, OciDigest.Hex(blob.Descriptor.Digest));
                await using (var file = new FileStream(part, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20, FileOptions.Asynchronous))
                {
                    await BlobCopy.CopyAsync(blob, file, ct);
                    await file.FlushAsync(ct);
                    file.Flush(flushToDisk: true);
                }
                File.Move(part, target, overwrite: true);
                created.Add(target);
            }

            var layoutFile = Path.Combine(Directory, "oci-layout");
            if (!File.Exists(layoutFile)) await WriteFileAsync(temp, layoutFile, "{\"imageLayoutVersion\":\"1.0.0\"}"u8.ToArray(), ct);

            var indexPath = Path.Combine(Directory, "index.json");
            var index = File.Exists(indexPath)
                ? OciJson.Parse<IndexDocument>(await File.ReadAllBytesAsync(indexPath, ct), $"{indexPath}")
                : new IndexDocument();
            index.MediaType ??= MediaTypes.OciIndex;
            var names = tags.Count == 0 ? [null] : tags.Select(t => (string?)t).ToList();
            // Replace what carried one of our names (or, untagged, the same manifest without a name).
            index.Manifests.RemoveAll(m =>
            {
                var name = m.Annotations?.GetValueOrDefault(OciAnnotations.RefName);
                return name is null ? names.Contains(null) && m.Digest == image.Manifest.Digest : names.Contains(name);
            });
            foreach (var name in names)
                index.Manifests.Add(DescriptorDocument.From(image.Manifest with
                {
                    Annotations = name is null ? null : new Dictionary<string, string> { [OciAnnotations.RefName] = name },
                    Platform = null,
                }));
            await WriteFileAsync(temp, indexPath, OciJson.Serialize(index), ct);
        }
        catch (Exception e)
        {
            // Whatever went wrong (a full disk, a corrupted blob, cancellation, a bug): nothing this write added stays.
            foreach (var path in created) Bento.Core.IO.AtomicFile.TryDelete(path);
            if (fresh) TryDeleteDirectory(Directory);
            if (e is IOException or UnauthorizedAccessException)
                throw new BentoException($"writing the OCI layout {Directory} failed: {Describe(e)}", e);
            throw;
        }
        finally
        {
            if (temp is not null) TryDeleteDirectory(temp);
        }
        return new Publication(Publication.OciLayout, Directory, image.Manifest.Digest, tags);
    }

    private void CheckDestination(string where)
    {
        if (File.Exists(Directory)) throw new BentoException($"{where}: {Directory} is a file, not a directory");
        if (!System.IO.Directory.Exists(Directory)) return;
        var isLayout = File.Exists(Path.Combine(Directory, "oci-layout"));
        if (!isLayout && System.IO.Directory.EnumerateFileSystemEntries(Directory).Any())
            throw new BentoException($"{where}: {Directory} exists and is not an OCI layout; give an empty or new directory");
    }

    /// <summary>Every distinct blob of the image (layers, config, manifest), each once.</summary>
    internal static IEnumerable<IBlob> AllBlobs(Image image)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var layer in image.Layers)
            if (seen.Add(layer.Blob.Descriptor.Digest)) yield return layer.Blob;
        if (seen.Add(image.Config.Digest)) yield return new MemoryBlob(image.Config.MediaType, image.ConfigBytes);
        if (seen.Add(image.Manifest.Digest)) yield return new MemoryBlob(image.Manifest.MediaType, image.ManifestBytes);
    }

    private static async Task WriteFileAsync(string tempDir, string path, byte[] bytes, CancellationToken ct)
    {
        var part = Path.Combine(tempDir, Path.GetFileName(path));
        await using (var file = new FileStream(part, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            await file.WriteAsync(bytes, ct);
            file.Flush(flushToDisk: true);
        }
        File.Move(part, path, overwrite: true);
    }

    internal const string NoSpace = "no space left on device";

    /// <summary>A local write error in words: "no space left on device", "permission denied", else the message.</summary>
    internal static string Describe(Exception e) => e switch
    {
        IOException io when (io.HResult & 0xFFFF) == Bento.Core.IO.Posix.ENOSPC || io.Message.Contains("No space left", StringComparison.OrdinalIgnoreCase) => NoSpace,
        UnauthorizedAccessException => "permission denied",
        _ => e.Message,
    };

    internal static void TryDeleteDirectory(string dir)
    {
        try { System.IO.Directory.Delete(dir, recursive: true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}
