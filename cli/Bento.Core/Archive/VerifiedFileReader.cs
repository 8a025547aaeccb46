using System.Security.Cryptography;
using Bento.Core.IO;

namespace Bento.Core.Archive;

/// <summary>
/// Reads one stored file into an export while hashing it: at its end the size and sha256 must be the manifest's, or
/// the export stops with an error naming the file. The bytes are read once (hashing is free next to zstd), so a
/// bento whose blob was damaged after it was stored never leaves as an archive that claims to be intact. Reports
/// itself as seekable with a known length because TarWriter otherwise buffers a whole entry to learn its size.
/// </summary>
internal sealed class VerifiedFileReader : Stream
{
    private readonly FileStream _file;
    private readonly long _length;
    private readonly string _sha256;
    private readonly Func<string, Exception> _corrupt;
    private readonly TransferMeter _meter;
    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private long _position;
    private bool _checked;

    /// <param name="corrupt">Makes the error for a problem ("size 12, expected 13").</param>
    public VerifiedFileReader(string path, long length, string sha256, TransferMeter meter, Func<string, Exception> corrupt)
    {
        _file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.SequentialScan | FileOptions.Asynchronous);
        _length = length;
        _sha256 = sha256;
        _meter = meter;
        _corrupt = corrupt;
        if (_file.Length != length)
        {
            _file.Dispose();
            throw corrupt($"size {_file.Length}, expected {length}");
        }
    }

    public override bool CanRead => true;
    public override bool CanSeek => true;
    public override bool CanWrite => false;
    public override long Length => _length;

    public override long Position
    {
        get => _position;
        set { if (value != _position) throw new NotSupportedException("seeking"); }
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer) => Account(buffer, _file.Read(buffer));

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default)
    {
        var read = await _file.ReadAsync(buffer, ct);
        return Account(buffer.Span, read);
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken ct) =>
        ReadAsync(buffer.AsMemory(offset, count), ct).AsTask();

    private int Account(ReadOnlySpan<byte> buffer, int read)
    {
        if (read > 0)
        {
            _position += read;
            if (_position > _length) throw _corrupt($"grew past {_length} bytes while it was exported");
            _hash.AppendData(buffer[..read]);
            _meter.Advance(read);
        }
        else if (!_checked)
        {
            _checked = true;
            if (_position != _length) throw _corrupt($"ended after {_position} bytes, expected {_length}");
            var sha = Convert.ToHexStringLower(_hash.GetHashAndReset());
            if (sha != _sha256) throw _corrupt($"sha256 {sha[..12]}…, expected {_sha256[..12]}…");
        }
        return read;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _file.Dispose();
            _hash.Dispose();
        }
        base.Dispose(disposing);
    }

    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
