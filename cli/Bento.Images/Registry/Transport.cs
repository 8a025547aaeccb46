using System.Buffers;
using System.Net;

namespace Bento.Images.Registry;

/// <summary>
/// Bounds one request by inactivity rather than total time: it cancels when nothing happened for the timeout (no
/// response yet, no byte written or read). Kicked on every buffer, so a 10 GB upload at any steady speed never trips it.
/// </summary>
internal sealed class Watchdog : IDisposable
{
    private readonly CancellationTokenSource _cts;
    private readonly CancellationToken _outer;
    private readonly TimeSpan _timeout;

    public Watchdog(TimeSpan timeout, CancellationToken outer)
    {
        _timeout = timeout;
        _outer = outer;
        _cts = CancellationTokenSource.CreateLinkedTokenSource(outer);
        _cts.CancelAfter(timeout);
    }

    public CancellationToken Token => _cts.Token;

    public TimeSpan Timeout => _timeout;

    /// <summary>True when this watchdog (not the caller) cancelled the request.</summary>
    public bool Expired => _cts.IsCancellationRequested && !_outer.IsCancellationRequested;

    /// <summary>
    /// True when <paramref name="e"/> is SocketsHttpHandler's <c>ConnectTimeout</c> (no TCP connection: a host that is
    /// down or a firewall that drops packets), which surfaces as a cancellation around a <see cref="TimeoutException"/>,
    /// not as an <see cref="HttpRequestException"/>; neither the caller nor this watchdog cancelled.
    /// </summary>
    public bool IsConnectTimeout(OperationCanceledException e) =>
        !_outer.IsCancellationRequested && !_cts.IsCancellationRequested && e.InnerException is TimeoutException;

    public void Kick()
    {
        try { _cts.CancelAfter(_timeout); }
        catch (ObjectDisposedException) { }
    }

    public void Dispose() => _cts.Dispose();
}

/// <summary>
/// A request body read from part of a blob (or a byte array), counted as it is written to the connection and
/// reported to a progress callback; it keeps the request's watchdog awake.
/// </summary>
internal sealed class UploadContent : HttpContent
{
    private const int BufferSize = 1 << 20;
    private readonly Func<CancellationToken, Task<Stream>> _open;
    private readonly long _length;
    private readonly TransferStats _stats;
    private readonly Watchdog? _watchdog;
    private readonly Action<long>? _progress;
    private readonly bool _endsBlob;

    /// <param name="open">Returns the source positioned where this body starts; not disposed here (the caller owns it).</param>
    /// <param name="endsBlob">This body carries the blob's last byte: the source is then read once more, to its end, so
    /// a self-verifying stream (<see cref="Oci.VerifyingReadStream"/>) checks size and digest before the request is
    /// complete. A blob whose bytes do not match its digest (a corrupted layout blob, a weight file changed since it was
    /// hashed) aborts the request, so the registry never commits it; a blob longer than its descriptor is refused too.</param>
    public UploadContent(Func<CancellationToken, Task<Stream>> open, long length, TransferStats stats, Watchdog? watchdog, Action<long>? progress,
        string contentType = "application/octet-stream", bool endsBlob = false)
    {
        _open = open;
        _length = length;
        _stats = stats;
        _watchdog = watchdog;
        _progress = progress;
        _endsBlob = endsBlob;
        Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue(contentType);
    }

    public static UploadContent FromBytes(byte[] bytes, string contentType, TransferStats stats, Watchdog? watchdog) =>
        new(_ => Task.FromResult<Stream>(new MemoryStream(bytes, writable: false)), bytes.Length, stats, watchdog, null, contentType);

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
        SerializeToStreamAsync(stream, context, CancellationToken.None);

    protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken ct)
    {
        var source = await _open(ct);
        var buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        try
        {
            long written = 0;
            while (written < _length)
            {
                var want = (int)Math.Min(BufferSize, _length - written);
                var read = await source.ReadAsync(buffer.AsMemory(0, want), ct);
                if (read == 0) throw new RegistryException($"the blob being uploaded ended {_length - written} bytes early: its content is shorter than its descriptor says");
                // Before the last bytes leave (see endsBlob): the registry never receives a complete body for a bad blob.
                if (_endsBlob && written + read == _length && await source.ReadAsync(new byte[1], ct) > 0)
                    throw new RegistryException("the blob being uploaded is longer than its descriptor says: its content changed or its descriptor is wrong");
                await stream.WriteAsync(buffer.AsMemory(0, read), ct);
                written += read;
                _stats.Sent(read);
                _watchdog?.Kick();
                _progress?.Invoke(written);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    protected override bool TryComputeLength(out long length)
    {
        length = _length;
        return true;
    }
}

/// <summary>
/// A blob's bytes from a given offset: seeks when the stream can, else reads forward, reopening the blob only when it
/// has to go back (a chunk resent after a failure).
/// </summary>
internal sealed class BlobCursor(Oci.IBlob blob) : IAsyncDisposable
{
    private Stream? _stream;
    private long _position;

    public async Task<Stream> AtAsync(long offset, CancellationToken ct)
    {
        if (_stream is { CanSeek: true })
        {
            _stream.Position = offset;
            _position = offset;
            return _stream;
        }
        if (_stream is null || offset < _position)
        {
            if (_stream is not null) await _stream.DisposeAsync();
            _stream = await blob.OpenReadAsync(ct);
            _position = 0;
            if (_stream.CanSeek)
            {
                _stream.Position = offset;
                _position = offset;
                return _stream;
            }
        }
        var skip = offset - _position;
        if (skip > 0)
        {
            var buffer = ArrayPool<byte>.Shared.Rent(1 << 20);
            try
            {
                while (skip > 0)
                {
                    var read = await _stream.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, skip)), ct);
                    if (read == 0) throw new RegistryException($"blob {blob.Descriptor.Digest} is shorter than {offset} bytes, less than its descriptor says");
                    skip -= read;
                }
            }
            finally { ArrayPool<byte>.Shared.Return(buffer); }
        }
        _position = offset;
        return new TrackingStream(this, _stream);
    }

    public async ValueTask DisposeAsync()
    {
        if (_stream is not null) await _stream.DisposeAsync();
    }

    /// <summary>Keeps the cursor's position in step with reads from a stream that cannot seek.</summary>
    private sealed class TrackingStream(BlobCursor owner, Stream inner) : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => owner._position; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count)
        {
            var n = inner.Read(buffer, offset, count);
            owner._position += n;
            return n;
        }
        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default)
        {
            var n = await inner.ReadAsync(buffer, ct);
            owner._position += n;
            return n;
        }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        // Not disposed here: the cursor owns the inner stream.
        protected override void Dispose(bool disposing) { }
    }
}
