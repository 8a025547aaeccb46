using System.Formats.Tar;
using System.IO.Compression;
using System.Text.Json;
using Bento.Core;
using Bento.Images.Oci;

namespace Bento.Images.Build;

/// <summary>
/// Looks inside a base image's layers for the one tool the image's healthcheck needs: bash (its <c>/dev/tcp</c> lets
/// a healthcheck speak HTTP to /health without curl or wget, which slim bases lack). Distroless or chiseled bases
/// have no shell: the image then gets no HEALTHCHECK and orchestrators use their own probes on /health and /ready.
/// The answer is cached per base image digest, so a base is scanned once.
/// </summary>
public static class BaseImageProbe
{
    /// <summary>The absolute path of bash in the base image, or null when it has none.</summary>
    public static async Task<string?> FindBashAsync(Image baseImage, string cacheDirectory, CancellationToken ct)
    {
        var cacheFile = Path.Combine(cacheDirectory, "base-probes", OciDigest.Hex(baseImage.Manifest.Digest) + ".json");
        try
        {
            if (File.Exists(cacheFile))
                return JsonSerializer.Deserialize<Probe>(await File.ReadAllBytesAsync(cacheFile, ct))?.Bash;
        }
        catch (JsonException) { }

        var present = new HashSet<string>(StringComparer.Ordinal);
        foreach (var layer in baseImage.Layers)
        {
            await using var blob = await BlobCopy.OpenVerifiedAsync(layer.Blob, ct);
            try
            {
                await ScanAsync(blob, layer.Blob.Descriptor.MediaType, present, ct);
            }
            catch (Exception e) when (e is InvalidDataException or FormatException or IOException)
            {
                // A damaged blob usually breaks decompression before its digest can be checked: finish reading it so
                // a digest mismatch is reported as what it is.
                var rest = new byte[81920];
                while (await blob.ReadAsync(rest, ct) > 0) { }
                throw new BentoException($"base image layer {layer.Blob.Descriptor.Digest} is not a readable {layer.Blob.Descriptor.MediaType}: {e.Message}");
            }
        }
        string? bash = null;
        if (present.Contains("usr/bin/bash")) bash = "/usr/bin/bash";
        else if (present.Contains("bin/bash")) bash = "/bin/bash";

        Directory.CreateDirectory(Path.GetDirectoryName(cacheFile)!);
        await Bento.Core.IO.AtomicFile.WriteAllTextAsync(cacheFile, JsonSerializer.Serialize(new Probe(bash)), ct);
        return bash;
    }

    private sealed record Probe(string? Bash);

    private static async Task ScanAsync(Stream blob, string mediaType, HashSet<string> present, CancellationToken ct)
    {
        await using var tar = Decompress(blob, mediaType);
        using var reader = new TarReader(tar, leaveOpen: true);
        while (await NextAsync(reader, ct) is { } entry)
        {
            var name = Normalize(entry.Name);
            var fileName = name[(name.LastIndexOf('/') + 1)..];
            if (fileName.StartsWith(".wh.", StringComparison.Ordinal))
            {
                present.Remove(name[..(name.Length - fileName.Length)] + fileName[4..]);
                continue;
            }
            if (entry.EntryType is TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.SymbolicLink or TarEntryType.HardLink)
                present.Add(name);
        }
        // Read to the end so the blob's digest is checked.
        var rest = new byte[81920];
        while (await tar.ReadAsync(rest, ct) > 0) { }
        while (await blob.ReadAsync(rest, ct) > 0) { }
    }

    /// <summary>The next entry; a layer that ends without tar's two zero blocks (umoci writes such) simply ends.</summary>
    private static async Task<TarEntry?> NextAsync(TarReader reader, CancellationToken ct)
    {
        try { return await reader.GetNextEntryAsync(copyData: false, ct); }
        catch (EndOfStreamException) { return null; }
    }

    private static string Normalize(string name)
    {
        var n = name.Replace('\\', '/');
        while (n.StartsWith("./", StringComparison.Ordinal)) n = n[2..];
        return n.TrimStart('/').TrimEnd('/');
    }

    private static Stream Decompress(Stream blob, string mediaType) => mediaType switch
    {
        MediaTypes.OciLayerGzip or MediaTypes.DockerLayerGzip => new GZipStream(blob, CompressionMode.Decompress, leaveOpen: true),
        MediaTypes.OciLayerZstd => new ZstdSharp.DecompressionStream(blob, leaveOpen: true),
        MediaTypes.OciLayer or "application/vnd.docker.image.rootfs.diff.tar" => new NonClosing(blob),
        _ => throw new BentoException($"base image layer media type '{mediaType}' is not supported"),
    };

    private sealed class NonClosing(Stream inner) : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => inner.Length;
        public override long Position { get => inner.Position; set => throw new NotSupportedException(); }
        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default) => inner.ReadAsync(buffer, ct);
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
