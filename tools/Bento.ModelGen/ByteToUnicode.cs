namespace Bento.ModelGen;

/// <summary>
/// GPT-2's reversible byte-to-character table used by byte-level BPE.
/// </summary>
/// <remarks>
/// BPE vocabularies are stored as JSON strings, so every byte needs a visible, non-whitespace character.
/// Printable Latin-1 bytes ('!'..'~', '¡'..'¬', '®'..'ÿ') stand for themselves; the other 68 bytes
/// (controls, space, soft hyphen, ...) take U+0100, U+0101, ... in byte order. This is why a space
/// shows up as 'Ġ' (U+0120) in tokens. The table must match the tokenizers library's exactly or our
/// tokenizer.json would decode to different bytes.
/// </remarks>
public static class ByteToUnicode
{
    private static readonly char[] ByteToChar = BuildTable();
    private static readonly Dictionary<char, byte> CharToByte =
        Enumerable.Range(0, 256).ToDictionary(b => ByteToChar[b], b => (byte)b);

    /// <summary>The character standing for <paramref name="value"/>.</summary>
    public static char Encode(byte value) => ByteToChar[value];

    /// <summary>The byte-level string of some UTF-8 bytes (one character per byte).</summary>
    public static string Encode(ReadOnlySpan<byte> bytes)
    {
        var chars = new char[bytes.Length];
        for (var i = 0; i < bytes.Length; i++)
            chars[i] = ByteToChar[bytes[i]];
        return new string(chars);
    }

    /// <summary>The bytes a byte-level string stands for.</summary>
    public static byte[] Decode(string symbols)
    {
        var bytes = new byte[symbols.Length];
        for (var i = 0; i < symbols.Length; i++)
        {
            if (!CharToByte.TryGetValue(symbols[i], out bytes[i]))
                throw new ArgumentException($"'{symbols[i]}' (U+{(int)symbols[i]:X4}) is not a byte-level symbol", nameof(symbols));
        }
        return bytes;
    }

    private static char[] BuildTable()
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
}
