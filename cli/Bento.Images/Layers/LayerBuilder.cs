using System.Formats.Tar;
using System.IO.Compression;
using System.IO.Pipelines;
using Bento.Core;
using Bento.Images.Oci;

namespace Bento.Images.Layers;

/// <summary>What goes into one layer: its entries, whether it is gzip-compressed, and the one mtime of its entries.</summary>
/// <param name="Description">Shown in logs and in the image history (<c>created_by</c>).</param>
public sealed record LayerRecipe(string Description, IReadOnlyList<LayerEntry> Entries, bool Compress, DateTimeOffset ModTime);

/// <summary>A layer with its description, and whether its digest came from the cache.</summary>
public sealed record BuiltLayer(Layer Layer, string Description, bool FromCache);

/// <summary>Counters for one build: what was taken from the cache and what had to be hashed.</summary>
public sealed class LayerStats
{
    public int CachedLayers;
    public int ComputedLayers;
    public long BytesHashed;
}

/// <summary>
/// Turns <see cref="LayerRecipe"/>s into layers, computing each digest and diff_id in one streaming pass and only when
/// the <see cref="LayerCache"/> does not know the recipe yet.
/// <list type="bullet">
/// <item>Compressed layers: tar -> sha256 (diff_id) -> deterministic gzip (no name, mtime 0, level 6) -> sha256
///   (digest) -> a file in the cache. Kept there, so later builds never recompress.</item>
/// <item>Uncompressed layers (weights): tar -> sha256 (digest = diff_id), written nowhere; the blob re-streams the tar
///   from the source files whenever a sink reads it (<see cref="StreamedLayerBlob"/>).</item>
/// </list>
/// </summary>
public sealed class LayerBuilder(LayerCache cache, Action<string>? log = null)
{
    /// <summary>zlib level 6 (the default of gzip(1) and of most image tools): a good ratio at a sane speed.</summary>
    private const int GzipLevel = 6;

    public LayerStats Stats { get; } = new();

    public LayerCache Cache => cache;

    public async Task<BuiltLayer> BuildAsync(LayerRecipe recipe, CancellationToken ct)
    {
        var entries = LayerTar.Normalize(recipe.Entries);
        var compression = recipe.Compress ? $"gzip-{GzipLevel}" : $"none tar-{typeof(TarWriter).Assembly.GetName().Version}";
        var key = LayerTar.Key(entries, recipe.ModTime, compression);
        var size = entries.Sum(e => e.Size);

        if (cache.Lookup(key) is { } cached)
        {
            Interlocked.Increment(ref Stats.CachedLayers);
            return new BuiltLayer(ToLayer(cached, entries, recipe), recipe.Description, FromCache: true);
        }

        log?.Invoke($"computing layer: {recipe.Description} ({Format(size)})");
        CachedLayer computed;
        if (recipe.Compress)
        {
            var temp = cache.NewTempBlobPath();
            try
            {
                string diffId, digest;
                long blobSize;
                await using (var file = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20, FileOptions.Asynchronous))
                {
                    var compressed = new HashingWriteStream(file);
                    HashingWriteStream tar;
                    await using (var gzip = new GZipStream(compressed, new ZLibCompressionOptions { CompressionLevel = GzipLevel }, leaveOpen: true))
                    {
                        tar = new HashingWriteStream(gzip);
                        await LayerTar.WriteAsync(tar, entries, recipe.ModTime, verifyContent: true, ct);
                    }
                    diffId = tar.Digest;
                    digest = compressed.Digest;
                    blobSize = compressed.BytesWritten;
                    Interlocked.Add(ref Stats.BytesHashed, tar.BytesWritten);
                    await file.FlushAsync(ct);
                    file.Flush(flushToDisk: true);
                }
                cache.CommitBlob(temp, digest);
                computed = new CachedLayer(MediaTypes.OciLayerGzip, digest, blobSize, diffId, null);
            }
            catch
            {
                Bento.Core.IO.AtomicFile.TryDelete(temp);
                throw;
            }
        }
        else
        {
            var sources = entries.Where(e => e.SourceFile is not null).Select(e => SourceIdentity.Of(e.SourceFile!)).ToList();
            var tar = new HashingWriteStream(null);
            await LayerTar.WriteAsync(tar, entries, recipe.ModTime, verifyContent: true, ct);
            Interlocked.Add(ref Stats.BytesHashed, tar.BytesWritten);
            computed = new CachedLayer(MediaTypes.OciLayer, tar.Digest, tar.BytesWritten, tar.Digest, sources);
        }
        await cache.RememberAsync(key, computed, ct);
        Interlocked.Increment(ref Stats.ComputedLayers);
        return new BuiltLayer(ToLayer(computed, entries, recipe), recipe.Description, FromCache: false);
    }

    private Layer ToLayer(CachedLayer c, IReadOnlyList<LayerEntry> entries, LayerRecipe recipe)
    {
        var descriptor = new Descriptor(c.MediaType, c.Digest, c.Size);
        IBlob blob = c.MediaType == MediaTypes.OciLayer
            ? new StreamedLayerBlob(descriptor, entries, recipe.ModTime, c.Sources, recipe.Description)
            : new FileBlob(descriptor, cache.BlobPath(c.Digest));
        return new Layer(blob, c.DiffId);
    }

    internal static string Format(long bytes) => bytes switch
    {
        >= 1L << 30 => $"{bytes / (double)(1L << 30):0.0} GiB",
        >= 1L << 20 => $"{bytes / (double)(1L << 20):0.0} MiB",
        >= 1L << 10 => $"{bytes / 1024.0:0.0} KiB",
        _ => $"{bytes} B",
    };
}

/// <summary>
/// An uncompressed layer whose bytes are regenerated on demand by streaming its tar from the source files: nothing
/// is stored, yet every read yields exactly the bytes the digest was computed from. If the source files' identities
/// (size, mtime, inode, device) are those recorded when the digest was computed, the bytes are trusted like git trusts
/// its index; otherwise they are hashed on the way and a difference is an error, never a corrupt image.
/// </summary>
public sealed class StreamedLayerBlob(Descriptor descriptor, IReadOnlyList<LayerEntry> entries, DateTimeOffset mtime, IReadOnlyList<SourceIdentity>? sources, string description)
    : ISelfVerifyingBlob
{
    public Descriptor Descriptor { get; } = descriptor;

    public Task<Stream> OpenReadAsync(CancellationToken ct)
    {
        var trusted = SourcesUnchanged();
        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 8 << 20, resumeWriterThreshold: 4 << 20, minimumSegmentSize: 1 << 20, useSynchronizationContext: false));
        var stop = new CancellationTokenSource();
        var producer = Task.Run(async () =>
        {
            Exception? error = null;
            try
            {
                await using var output = pipe.Writer.AsStream(leaveOpen: true);
                await LayerTar.WriteAsync(output, entries, mtime, verifyContent: false, stop.Token);
                await output.FlushAsync(stop.Token);
            }
            catch (Exception e)
            {
                error = e;
            }
            await pipe.Writer.CompleteAsync(error);
        });
        Stream stream = new ProducerReadStream(pipe.Reader.AsStream(), stop, producer, Descriptor.Size);
        if (!trusted) stream = new VerifyingReadStream(stream, Descriptor, $"layer: {description}; a source file changed since its digest was computed");
        return Task.FromResult(stream);
    }

    private bool SourcesUnchanged()
    {
        if (sources is null) return false;
        var files = entries.Where(e => e.SourceFile is not null).ToList();
        if (files.Count != sources.Count) return false;
        try
        {
            for (var i = 0; i < files.Count; i++)
                if (SourceIdentity.Of(files[i].SourceFile!) != sources[i]) return false;
            return true;
        }
        catch (IOException)
        {
            return false;
        }
    }

    /// <summary>The pipe's reading end; disposing it stops the producer.</summary>
    private sealed class ProducerReadStream(Stream inner, CancellationTokenSource stop, Task producer, long length) : Stream
    {
        private long _position;

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => length;
        public override long Position { get => _position; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count)
        {
            var n = inner.Read(buffer, offset, count);
            _position += n;
            return n;
        }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default)
        {
            var n = await inner.ReadAsync(buffer, ct);
            _position += n;
            return n;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken ct) =>
            ReadAsync(buffer.AsMemory(offset, count), ct).AsTask();

        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        private int _disposed;

        protected override void Dispose(bool disposing)
        {
            if (disposing && Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                stop.Cancel();
                inner.Dispose();
                try { producer.Wait(TimeSpan.FromSeconds(30)); } catch (AggregateException) { }
                stop.Dispose();
            }
            base.Dispose(disposing);
        }
    }
}
