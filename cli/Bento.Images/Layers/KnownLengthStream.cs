namespace Bento.Images.Layers;

/// <summary>
/// Presents a stream of known length as "seekable" to <see cref="System.Formats.Tar.TarWriter"/>, which asks a data
/// stream's Length and Position before copying it; any real seek is refused. Reading more or fewer bytes than the
/// stated length is an error (the tar header already promised the size).
/// </summary>
internal sealed class KnownLengthStream(Stream inner, long length, string what) : Stream
{
    private long _position;

    public override bool CanRead => true;
    public override bool CanSeek => true;
    public override bool CanWrite => false;
    public override long Length => length;

    public override long Position
    {
        get => _position;
        set { if (value != _position) throw new NotSupportedException("seeking"); }
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        var n = inner.Read(buffer[..(int)Math.Min(buffer.Length, Math.Max(0, length - _position + 1))]);
        return Account(n, buffer.Length);
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default)
    {
        var n = await inner.ReadAsync(buffer[..(int)Math.Min(buffer.Length, Math.Max(0, length - _position + 1))], ct);
        return Account(n, buffer.Length);
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken ct) =>
        ReadAsync(buffer.AsMemory(offset, count), ct).AsTask();

    private int Account(int n, int requested)
    {
        _position += n;
        if (_position > length)
            throw new Bento.Core.BentoException($"{what} grew while it was being written into a layer (expected {length} bytes)");
        if (n == 0 && requested > 0 && _position < length)
            throw new Bento.Core.BentoException($"{what} shrank while it was being written into a layer ({_position} of {length} bytes)");
        return n;
    }

    public override long Seek(long offset, SeekOrigin origin)
    {
        var target = origin switch { SeekOrigin.Begin => offset, SeekOrigin.Current => _position + offset, _ => length + offset };
        if (target != _position) throw new NotSupportedException("seeking");
        return _position;
    }

    public override void Flush() { }
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    private bool _disposed;

    protected override void Dispose(bool disposing)
    {
        if (disposing && !_disposed)
        {
            _disposed = true;
            inner.Dispose();
        }
        base.Dispose(disposing);
    }
}
