using System.Buffers.Binary;
using System.Text;

namespace Bento.Core.Archive;

/// <summary>
/// A read-only stream between the decompressor and <see cref="System.Formats.Tar.TarReader"/> that looks at every
/// 512-byte tar header before the reader does and refuses a metadata entry — PAX extended header ('x', 'g') or GNU
/// long name/link ('L', 'K') — larger than <see cref="InputLimits.TarMetadataBytes"/>. TarReader reads such entries
/// whole into memory, so a 34 KB archive claiming a 1000 MB long name made it allocate a gigabyte; here it costs one
/// header. To find the headers it follows the layout as TarReader does: each entry's data is its size rounded up to
/// 512 bytes, where the size is the header's (octal or GNU base-256) unless a preceding PAX header sets 'size'.
/// </summary>
internal sealed class TarMetadataGuard : Stream
{
    private const int Block = 512;

    private readonly Stream _inner;
    private readonly string _display;
    private readonly byte[] _header = new byte[Block];
    private int _headerLength;   // bytes of _header read from the inner stream
    private int _headerOffset;   // bytes of _header already handed on
    private long _dataLeft;      // data and padding of the current entry still to pass through
    private MemoryStream? _pax;  // a PAX 'x' header's records, captured to learn the next entry's size
    private long _paxLeft;       // bytes of those records still to capture (the rest of _dataLeft is padding)
    private long? _nextSize;     // the size a PAX header set for the next entry
    private long _entries;

    public TarMetadataGuard(Stream inner, string display) => (_inner, _display) = (inner, display);

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        if (buffer.IsEmpty) return 0;
        if (_headerOffset == _headerLength && _dataLeft == 0)
        {
            _headerLength = _inner.ReadAtLeast(_header, Block, throwOnEndOfStream: false);
            _headerOffset = 0;
            if (_headerLength == 0) return 0;
            Inspect();
        }
        if (_headerOffset < _headerLength) return HandOnHeader(buffer);
        var n = _inner.Read(buffer[..(int)Math.Min(buffer.Length, _dataLeft)]);
        PassedData(buffer[..n]);
        return n;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken ct) =>
        ReadAsync(buffer.AsMemory(offset, count), ct).AsTask();

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default)
    {
        if (buffer.IsEmpty) return 0;
        if (_headerOffset == _headerLength && _dataLeft == 0)
        {
            _headerLength = await _inner.ReadAtLeastAsync(_header, Block, throwOnEndOfStream: false, ct);
            _headerOffset = 0;
            if (_headerLength == 0) return 0;
            Inspect();
        }
        if (_headerOffset < _headerLength) return HandOnHeader(buffer.Span);
        var n = await _inner.ReadAsync(buffer[..(int)Math.Min(buffer.Length, _dataLeft)], ct);
        PassedData(buffer.Span[..n]);
        return n;
    }

    private int HandOnHeader(Span<byte> buffer)
    {
        var n = Math.Min(buffer.Length, _headerLength - _headerOffset);
        _header.AsSpan(_headerOffset, n).CopyTo(buffer);
        _headerOffset += n;
        return n;
    }

    private void PassedData(ReadOnlySpan<byte> data)
    {
        if (data.IsEmpty) return; // end of the inner stream: TarReader reports the truncation
        _dataLeft -= data.Length;
        if (_pax is null || _paxLeft == 0) return;
        var take = (int)Math.Min(data.Length, _paxLeft);
        _pax.Write(data[..take]);
        _paxLeft -= take;
        if (_paxLeft == 0) { _nextSize = SizeRecord(_pax.GetBuffer().AsSpan(0, (int)_pax.Length)) ?? _nextSize; _pax = null; }
    }

    /// <summary>Checks the header just read and works out how much data follows it.</summary>
    private void Inspect()
    {
        if (_headerLength < Block) return; // a truncated header: TarReader reports it
        if (_header.AsSpan().IndexOfAnyExcept((byte)0) < 0) return; // an end-of-archive block
        _entries++;
        var type = (char)_header[156];
        var size = HeaderSize();
        var kind = type switch
        {
            'x' => "PAX extended header",
            'g' => "PAX global header",
            'L' => "GNU long name",
            'K' => "GNU long link name",
            _ => null,
        };
        var limit = InputLimits.TarMetadataBytes;
        if (kind is not null && (size < 0 || size > limit.Value))
            throw new BentoException($"{_display}: tar entry {_entries}: {kind} of " +
                                     (size < 0 ? "an unreadable size" : $"{InputLimits.Bytes(size)} ({size} bytes)") +
                                     $" exceeds the {limit.Size} limit (a corrupt or hostile archive); nothing was imported");
        if (size < 0) size = 0; // TarReader refuses the malformed size itself
        if (kind is null && _nextSize is { } paxSize and >= 0) size = paxSize;
        if (kind is null || type == 'x') _nextSize = null;
        if (type == 'x') { _pax = new MemoryStream((int)size); _paxLeft = size; }
        _dataLeft = size + (Block - size % Block) % Block;
    }

    /// <summary>The size field: octal digits (space/NUL padded), or GNU base-256 when the top bit is set; -1 when unreadable.</summary>
    private long HeaderSize()
    {
        var field = _header.AsSpan(124, 12);
        if ((field[0] & 0x80) != 0)
        {
            if ((field[0] & 0x40) != 0 || field[1..4].IndexOfAnyExcept((byte)0) >= 0) return -1; // negative or beyond 2^63
            return (long)BinaryPrimitives.ReadUInt64BigEndian(field[4..]) is var value and >= 0 ? value : -1;
        }
        long result = 0;
        var i = 0;
        while (i < field.Length && field[i] == ' ') i++;
        var digits = 0;
        for (; i < field.Length && field[i] is >= (byte)'0' and <= (byte)'7'; i++, digits++)
            result = result * 8 + (field[i] - '0');
        return digits == 0 && i < field.Length && field[i] is not (0 or (byte)' ') ? -1 : result;
    }

    /// <summary>
    /// The 'size' record of PAX extended header data, if any. Records are "LEN KEY=VALUE\n" with LEN counting the
    /// whole record, so they are walked by length (a value may itself contain "\n12 size=..."); -1 for garbage, which
    /// TarReader then refuses.
    /// </summary>
    private static long? SizeRecord(ReadOnlySpan<byte> records)
    {
        long? size = null;
        while (!records.IsEmpty)
        {
            var space = records.IndexOf((byte)' ');
            if (space <= 0 || !int.TryParse(records[..space], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var length) ||
                length <= space + 1 || length > records.Length)
                return size;
            var record = records[(space + 1)..(length - 1)]; // KEY=VALUE without the newline
            if (record.StartsWith("size="u8))
                size = long.TryParse(record["size=".Length..], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var value) ? value : -1;
            records = records[length..];
        }
        return size;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) _inner.Dispose();
        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        await _inner.DisposeAsync();
        await base.DisposeAsync();
    }
}
