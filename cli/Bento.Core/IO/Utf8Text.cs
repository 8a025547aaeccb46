using System.Buffers;
using System.Text;
using System.Text.Unicode;

namespace Bento.Core.IO;

/// <summary>
/// Text files BentoBuilder reads (bentofile.yaml, bento.yaml, .bentoignore) must be UTF-8. Bytes that are not are an
/// error naming the line and column, never silently replaced by U+FFFD: a description or label would otherwise be
/// published altered, and a manifest would stop matching its own version.
/// </summary>
public static class Utf8Text
{
    /// <summary>Decodes <paramref name="bytes"/> (a byte order mark is dropped); <paramref name="display"/> names the source in errors.</summary>
    public static string Decode(ReadOnlySpan<byte> bytes, string display)
    {
        if (bytes.StartsWith(Encoding.UTF8.Preamble)) bytes = bytes[Encoding.UTF8.Preamble.Length..];
        var chars = ArrayPool<char>.Shared.Rent(Math.Max(bytes.Length, 1));
        try
        {
            var status = Utf8.ToUtf16(bytes, chars, out var read, out var written, replaceInvalidSequences: false);
            if (status == OperationStatus.Done) return new string(chars, 0, written);
            // InvalidData stops at the first bad sequence; NeedMoreData means the file ends inside one.
            throw new BentoException($"{display}:{Line(bytes[..read])}:{Column(bytes[..read])}: not valid UTF-8 (byte 0x{bytes[read]:X2} at offset {read}); " +
                                     "save the file as UTF-8");
        }
        finally
        {
            ArrayPool<char>.Shared.Return(chars);
        }
    }

    private static int Line(ReadOnlySpan<byte> before) => before.Count((byte)'\n') + 1;

    /// <summary>Characters (not bytes) since the last line break, plus one.</summary>
    private static int Column(ReadOnlySpan<byte> before)
    {
        var lineStart = before.LastIndexOf((byte)'\n') + 1;
        var column = 1;
        foreach (var b in before[lineStart..]) if ((b & 0xC0) != 0x80) column++;
        return column;
    }
}
