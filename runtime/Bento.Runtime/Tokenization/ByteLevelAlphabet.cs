using System.Buffers;
using System.Text;

namespace Bento.Runtime.Tokenization;

/// <summary>
/// GPT-2's reversible mapping from bytes to printable characters, which byte-level BPE vocabularies are
/// written in (a space byte appears as 'Ġ', a newline as 'Ċ').
/// </summary>
/// <remarks>
/// Printable Latin-1 bytes ('!'..'~', '¡'..'¬', '®'..'ÿ') stand for themselves; the remaining 68 bytes take
/// U+0100, U+0101, ... in byte order. The table must match the tokenizers library's exactly, or vocabulary
/// lookups would silently miss and decoding would produce different bytes.
/// </remarks>
internal static class ByteLevelAlphabet
{
    private static readonly char[] ByteToChar = BuildByteToChar();

    /// <summary>Byte of each symbol character, -1 for characters outside the alphabet; indexed by char
    /// code, which never exceeds U+0143 (256 + 67).</summary>
    private static readonly short[] CharToByte = BuildCharToByte();

    public static char ToSymbol(byte value) => ByteToChar[value];

    /// <summary>The byte a symbol stands for, or false for a character outside the alphabet.</summary>
    public static bool TryGetByte(char symbol, out byte value)
    {
        if (symbol < CharToByte.Length && CharToByte[symbol] >= 0)
        {
            value = (byte)CharToByte[symbol];
            return true;
        }
        value = 0;
        return false;
    }

    /// <summary>The byte-level form of <paramref name="text"/>: its UTF-8 bytes, one symbol each.</summary>
    public static string Encode(string text)
    {
        var byteCount = Encoding.UTF8.GetByteCount(text);
        var rented = ArrayPool<byte>.Shared.Rent(byteCount);
        try
        {
            var written = Encoding.UTF8.GetBytes(text, rented);
            return string.Create(written, rented, static (chars, bytes) =>
            {
                for (var i = 0; i < chars.Length; i++)
                    chars[i] = ByteToChar[bytes[i]];
            });
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    private static char[] BuildByteToChar()
    {
        var table = new char[256];
        var next = 256;
        for (var b = 0; b < 256; b++)
        {
            var printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            table[b] = printable ? (char)b : (char)next++;
        }
        return table;
    }

    private static short[] BuildCharToByte()
    {
        var table = new short[ByteToChar.Max() + 1];
        Array.Fill(table, (short)-1);
        for (var b = 0; b < 256; b++)
            table[ByteToChar[b]] = (short)b;
        return table;
    }
}
