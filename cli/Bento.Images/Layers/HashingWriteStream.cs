using System.Security.Cryptography;
using Bento.Images.Oci;

namespace Bento.Images.Layers;

/// <summary>
/// A write-only stream that hashes (sha256) and counts what passes through on its way to an inner stream (or nowhere),
/// so a layer's diff_id and blob digest come out of the one pass that writes it.
/// </summary>
internal sealed class HashingWriteStream(Stream? inner, bool leaveOpen = true) : Stream
{
    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private string? _digest;

    public long BytesWritten { get; private set; }

    /// <summary>The digest of everything written; call once writing is over.</summary>
    public string Digest => _digest ??= OciDigest.FromHash(_hash.GetHashAndReset());

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => BytesWritten;
    public override long Position { get => BytesWritten; set => throw new NotSupportedException(); }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        _hash.AppendData(buffer);
        BytesWritten += buffer.Length;
        inner?.Write(buffer);
    }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken ct = default)
    {
        _hash.AppendData(buffer.Span);
        BytesWritten += buffer.Length;
        if (inner is not null) await inner.WriteAsync(buffer, ct);
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken ct) =>
        WriteAsync(buffer.AsMemory(offset, count), ct).AsTask();

    public override void Flush() => inner?.Flush();
    public override Task FlushAsync(CancellationToken ct) => inner?.FlushAsync(ct) ?? Task.CompletedTask;
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _hash.Dispose();
            if (!leaveOpen) inner?.Dispose();
        }
        base.Dispose(disposing);
    }
}
