using System.Security.Cryptography;
using Bento.Core;

namespace Bento.Images.Oci;

/// <summary>A small blob held in memory (manifests, configs).</summary>
public sealed class MemoryBlob : ISelfVerifyingBlob
{
    private readonly byte[] _bytes;

    public MemoryBlob(string mediaType, byte[] bytes)
    {
        _bytes = bytes;
        Descriptor = new Descriptor(mediaType, OciDigest.Of(bytes), bytes.Length);
    }

    public Descriptor Descriptor { get; }

    public Task<Stream> OpenReadAsync(CancellationToken ct) => Task.FromResult<Stream>(new MemoryStream(_bytes, writable: false));
}

/// <summary>
/// A blob whose streams check themselves (size and digest, or a trusted source): sinks copy them as they are instead
/// of hashing them a second time.
/// </summary>
public interface ISelfVerifyingBlob : IBlob;

/// <summary>A blob stored as a file whose digest is known; reading it verifies size and digest as the bytes go by.</summary>
public sealed class FileBlob(Descriptor descriptor, string path) : ISelfVerifyingBlob
{
    public Descriptor Descriptor { get; } = descriptor;

    public string Path { get; } = path;

    public Task<Stream> OpenReadAsync(CancellationToken ct)
    {
        Stream file;
        try
        {
            file = new FileStream(Path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan | FileOptions.Asynchronous);
        }
        catch (FileNotFoundException)
        {
            throw new BentoException($"blob {Descriptor.Digest} is missing: {Path} does not exist");
        }
        return Task.FromResult<Stream>(new VerifyingReadStream(file, Descriptor, Path));
    }
}

/// <summary>
/// Passes a blob's bytes through while hashing them; at the end (or as soon as there are too many bytes) a size or
/// digest that differs from the descriptor is a <see cref="BentoException"/>, so corrupted content never reaches a
/// sink unnoticed. Consumers must read to the end for the check to happen (every sink does).
/// </summary>
public sealed class VerifyingReadStream : Stream
{
    private readonly Stream _inner;
    private readonly Descriptor _expected;
    private readonly string _where;
    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private long _read;
    private bool _verified;

    public VerifyingReadStream(Stream inner, Descriptor expected, string where)
    {
        _inner = inner;
        _expected = expected;
        _where = where;
    }

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => _expected.Size;
    public override long Position { get => _read; set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        var n = _inner.Read(buffer);
        return Account(buffer[..n], buffer.Length);
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default)
    {
        var n = await _inner.ReadAsync(buffer, ct);
        return Account(buffer.Span[..n], buffer.Length);
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken ct) =>
        ReadAsync(buffer.AsMemory(offset, count), ct).AsTask();

    private int Account(ReadOnlySpan<byte> data, int requested)
    {
        _read += data.Length;
        if (_read > _expected.Size) throw Mismatch($"it has more than the {_expected.Size} bytes its descriptor says");
        _hash.AppendData(data);
        if (data.Length == 0 && requested > 0 && !_verified)
        {
            _verified = true;
            if (_read != _expected.Size) throw Mismatch($"it has {_read} bytes, its descriptor says {_expected.Size}");
            var actual = OciDigest.FromHash(_hash.GetHashAndReset());
            if (actual != _expected.Digest) throw Mismatch($"its content hashes to {actual}");
        }
        return data.Length;
    }

    private BentoException Mismatch(string what) =>
        new($"digest mismatch: blob {_expected.Digest} ({_where}) is corrupted: {what}");

    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    private bool _disposed;

    protected override void Dispose(bool disposing)
    {
        if (disposing && !_disposed)
        {
            _disposed = true;
            _inner.Dispose();
            _hash.Dispose();
        }
        base.Dispose(disposing);
    }
}

/// <summary>Helpers every sink uses to copy a blob: read it to the end (so verification happens) into a stream.</summary>
public static class BlobCopy
{
    public const int BufferSize = 1 << 20;

    /// <summary>Copies the whole blob to <paramref name="destination"/>, verifying its size and digest on the way.</summary>
    public static async Task CopyAsync(IBlob blob, Stream destination, CancellationToken ct)
    {
        await using var source = await OpenVerifiedAsync(blob, ct);
        // CopyToAsync reads until the end of the stream, where the verifying stream checks size and digest.
        await source.CopyToAsync(destination, BufferSize, ct);
    }

    /// <summary>The blob's stream, wrapped in a <see cref="VerifyingReadStream"/> unless the blob checks itself.</summary>
    public static async Task<Stream> OpenVerifiedAsync(IBlob blob, CancellationToken ct)
    {
        var stream = await blob.OpenReadAsync(ct);
        return blob is ISelfVerifyingBlob ? stream : new VerifyingReadStream(stream, blob.Descriptor, "blob");
    }
}
