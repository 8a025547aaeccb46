using System.Text;

namespace Bento.TestSupport;

/// <summary>
/// A small, deterministic mutation fuzzer for the parsers that take outside input (bentofile, manifest, archive,
/// HTTP requests): from valid seeds it makes inputs with flipped, deleted, repeated and spliced bytes and with tokens
/// and values that parsers tend to mishandle. A fixed seed makes every run identical, so a failure reproduces.
/// </summary>
public sealed class Mutator
{
    private readonly Random _random;
    private readonly byte[][] _seeds;
    private readonly byte[][] _tokens;

    /// <param name="tokens">Syntax of the format (YAML indicators, JSON punctuation, field names) to insert.</param>
    public Mutator(int seed, IEnumerable<byte[]> seeds, IEnumerable<string> tokens)
    {
        _random = new Random(seed);
        _seeds = seeds.ToArray();
        _tokens = tokens.Concat(Interesting).Select(Encoding.UTF8.GetBytes).ToArray();
    }

    /// <summary>Values that break careless parsing: signs, huge and odd numbers, empty and control characters, invalid UTF-8 comes separately.</summary>
    private static readonly string[] Interesting =
    [
        "-1", "0", "-0", "1e999", "-1e999", "1e-999", "9223372036854775808", "2147483648", "4294967296", ".nan", "NaN", "Infinity",
        "0x10", "1_000", "", " ", "~", "null", "true", "\u0000", "\t", "\r\n", "\\u0000", "\\ud800", "\uFEFF", "é", "😀",
        new string('a', 300), new string('[', 200), new string('{', 200), "../../../etc/passwd", "/dev/zero",
    ];

    /// <summary>One mutated input: 1 to 8 mutations of a random seed.</summary>
    public byte[] Next()
    {
        var data = new List<byte>(_seeds[_random.Next(_seeds.Length)]);
        var count = 1 + _random.Next(8);
        for (var i = 0; i < count; i++) Mutate(data);
        return data.ToArray();
    }

    private void Mutate(List<byte> data)
    {
        var at = data.Count == 0 ? 0 : _random.Next(data.Count + 1);
        switch (_random.Next(9))
        {
            case 0 when data.Count > 0: // flip a bit
                var i = _random.Next(data.Count);
                data[i] ^= (byte)(1 << _random.Next(8));
                break;
            case 1 when data.Count > 0: // a random byte, invalid UTF-8 included
                data[_random.Next(data.Count)] = (byte)_random.Next(256);
                break;
            case 2 when data.Count > 0: // delete a range
                var length = Math.Min(data.Count - Math.Min(at, data.Count - 1), 1 + _random.Next(32));
                data.RemoveRange(Math.Min(at, data.Count - 1), length);
                break;
            case 3 when data.Count > 0: // repeat a range
                var start = _random.Next(data.Count);
                var span = data.GetRange(start, Math.Min(data.Count - start, 1 + _random.Next(64)));
                for (var r = _random.Next(1, 4); r > 0; r--) data.InsertRange(at, span);
                break;
            case 4: // splice in part of another seed
                var other = _seeds[_random.Next(_seeds.Length)];
                if (other.Length == 0) break;
                var from = _random.Next(other.Length);
                data.InsertRange(at, other.Skip(from).Take(1 + _random.Next(128)));
                break;
            case 5 when data.Count > 0: // truncate
                data.RemoveRange(at == data.Count ? data.Count - 1 : at, data.Count - (at == data.Count ? data.Count - 1 : at));
                break;
            default: // insert a token of the format or an interesting value
                data.InsertRange(at, _tokens[_random.Next(_tokens.Length)]);
                break;
        }
    }

    /// <summary>An input as a C# string literal, for failure messages.</summary>
    public static string Show(byte[] input)
    {
        var text = new StringBuilder("\"");
        foreach (var b in input.Take(2000))
            text.Append(b is >= 0x20 and < 0x7F and not (byte)'"' and not (byte)'\\' ? ((char)b).ToString() : $"\\x{b:X2}");
        return text.Append(input.Length > 2000 ? "\"…" : "\"").ToString();
    }
}
