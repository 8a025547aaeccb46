using System.Buffers.Text;
using System.Text;
using System.Text.RegularExpressions;

namespace Bento.Core.Tar;

/// <summary>
/// A write-only filter between <see cref="System.Formats.Tar.TarWriter"/> and its destination that makes the PAX
/// extended-header entries reproducible: .NET names them <c>PaxHeaders.&lt;process id&gt;/…</c>, so the same files
/// written by two processes would differ. This filter follows the tar stream block by block (headers are buffered,
/// data passes straight through), rewrites those names to <c>PaxHeaders.0/…</c> and recomputes the header checksum.
/// Nothing else is changed. Extraction tools ignore these names; only the bytes (and so the digest) matter.
/// </summary>
public sealed partial class PaxHeaderNormalizer : Stream
{
    private const int Block = 512;
    private readonly Stream _inner;
    private readonly byte[] _header = new byte[Block];
    private int _headerFill;
    private long _dataLeft;          // bytes of the current entry's (padded) data still to pass through
    private MemoryStream? _paxData;  // the current extended header's records, collected to learn an overriding size
    private long? _pendingSize;      // "size=" from the preceding extended header, for the next entry

    public PaxHeaderNormalizer(Stream inner) => _inner = inner;

    [GeneratedRegex(@"PaxHeaders\.[0-9]+")]
    private static partial Regex PidDirectory();

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override void Write(byte[] buffer, int offset, int count) =>
        WriteCore(buffer.AsMemory(offset, count), sync: true, CancellationToken.None).AsTask().GetAwaiter().GetResult();

    public override void Write(ReadOnlySpan<byte> data) =>
        WriteCore(data.ToArray(), sync: true, CancellationToken.None).AsTask().GetAwaiter().GetResult();

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken ct = default) => WriteCore(buffer, sync: false, ct);

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken ct) =>
        WriteCore(buffer.AsMemory(offset, count), sync: false, ct).AsTask();

    private async ValueTask WriteCore(ReadOnlyMemory<byte> data, bool sync, CancellationToken ct)
    {
        while (!data.IsEmpty)
        {
            if (_dataLeft > 0)
            {
                var n = (int)Math.Min(_dataLeft, data.Length);
                _paxData?.Write(data.Span[..n]);
                await Forward(data[..n], sync, ct);
                _dataLeft -= n;
                data = data[n..];
                if (_dataLeft == 0 && _paxData is not null) EndPaxData();
                continue;
            }
            var take = Math.Min(Block - _headerFill, data.Length);
            data.Span[..take].CopyTo(_header.AsSpan(_headerFill));
            _headerFill += take;
            data = data[take..];
            if (_headerFill == Block)
            {
                _headerFill = 0;
                ProcessHeader();
                await Forward(_header.ToArray(), sync, ct);
                if (_dataLeft == 0 && _paxData is not null) EndPaxData();
            }
        }
    }

    private ValueTask Forward(ReadOnlyMemory<byte> data, bool sync, CancellationToken ct)
    {
        if (!sync) return _inner.WriteAsync(data, ct);
        _inner.Write(data.Span);
        return ValueTask.CompletedTask;
    }

    private void ProcessHeader()
    {
        if (_header.AsSpan().IndexOfAnyExcept((byte)0) < 0)
        {
            _dataLeft = 0; // end-of-archive block
            return;
        }
        var type = (char)_header[156];
        var size = ParseNumber(_header.AsSpan(124, 12));
        if (type is 'x' or 'g')
        {
            RewriteName(0, 100);
            RewriteName(345, 155);
            WriteChecksum();
            _paxData = new MemoryStream();
        }
        else if (_pendingSize is { } overriding)
        {
            size = overriding;
            _pendingSize = null;
        }
        _dataLeft = (size + Block - 1) / Block * Block;
    }

    private void RewriteName(int offset, int length)
    {
        var field = _header.AsSpan(offset, length);
        var end = field.IndexOf((byte)0);
        var name = Encoding.UTF8.GetString(end < 0 ? field : field[..end]);
        var normalized = PidDirectory().Replace(name, "PaxHeaders.0");
        if (normalized == name) return;
        field.Clear();
        Encoding.UTF8.GetBytes(normalized).CopyTo(field);
    }

    private void WriteChecksum()
    {
        _header.AsSpan(148, 8).Fill((byte)' ');
        var sum = 0;
        foreach (var b in _header) sum += b;
        // Six octal digits, NUL, space: the classic layout (the one .NET and GNU tar write).
        var text = Convert.ToString(sum, 8).PadLeft(6, '0');
        Encoding.ASCII.GetBytes(text).CopyTo(_header.AsSpan(148));
        _header[154] = 0;
        _header[155] = (byte)' ';
    }

    /// <summary>Reads the collected extended-header records ("LEN key=value\n") for a "size" that overrides the next header's.</summary>
    private void EndPaxData()
    {
        var records = _paxData!.ToArray();
        _paxData = null;
        var span = records.AsSpan();
        while (span.Length > 0)
        {
            var space = span.IndexOf((byte)' ');
            if (space <= 0 || !Utf8Parser.TryParse(span[..space], out int length, out _) || length <= space || length > span.Length) break;
            var record = span[(space + 1)..(length - 1)];
            var eq = record.IndexOf((byte)'=');
            if (eq > 0 && record[..eq].SequenceEqual("size"u8) && Utf8Parser.TryParse(record[(eq + 1)..], out long value, out _))
                _pendingSize = value;
            span = span[length..];
        }
    }

    /// <summary>An octal field, or the base-256 form (high bit set) tar uses for large numbers.</summary>
    private static long ParseNumber(ReadOnlySpan<byte> field)
    {
        if ((field[0] & 0x80) != 0)
        {
            long v = field[0] & 0x7f;
            for (var i = 1; i < field.Length; i++) v = (v << 8) | field[i];
            return v;
        }
        long result = 0;
        foreach (var b in field)
        {
            if (b is (byte)' ' or 0)
            {
                if (result != 0) break;
                continue;
            }
            if (b is < (byte)'0' or > (byte)'7') break;
            result = result * 8 + (b - '0');
        }
        return result;
    }

    public override void Flush() => _inner.Flush();
    public override Task FlushAsync(CancellationToken ct) => _inner.FlushAsync(ct);
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
}
