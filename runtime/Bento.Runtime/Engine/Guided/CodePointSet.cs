namespace Bento.Runtime.Engine.Guided;

/// <summary>
/// A set of Unicode scalar values as sorted, disjoint ranges, compiled to the UTF-8 byte sequences that encode them
/// (so a constraint on characters works on tokens that split a character's bytes).
/// </summary>
internal sealed class CodePointSet
{
    public const int MaxCodePoint = 0x10FFFF;
    private readonly List<(int Lo, int Hi)> _ranges;

    private CodePointSet(List<(int Lo, int Hi)> ranges) => _ranges = ranges;

    public IReadOnlyList<(int Lo, int Hi)> Ranges => _ranges;

    public static CodePointSet Empty => new([]);
    public static CodePointSet All => Of((0, MaxCodePoint));

    public static CodePointSet Of(params (int Lo, int Hi)[] ranges) => Normalize(ranges);

    public static CodePointSet Single(int c) => Of((c, c));

    public bool IsEmpty => _ranges.Count == 0;

    public bool Contains(int c) => _ranges.Any(r => c >= r.Lo && c <= r.Hi);

    public CodePointSet Union(CodePointSet other) => Normalize(_ranges.Concat(other._ranges));

    public CodePointSet Negate()
    {
        var result = new List<(int, int)>();
        var next = 0;
        foreach (var (lo, hi) in _ranges)
        {
            if (lo > next) result.Add((next, lo - 1));
            next = hi + 1;
        }
        if (next <= MaxCodePoint) result.Add((next, MaxCodePoint));
        return new CodePointSet(result);
    }

    public CodePointSet Except(CodePointSet other) => Intersect(other.Negate());

    public CodePointSet Intersect(CodePointSet other)
    {
        var result = new List<(int, int)>();
        foreach (var (a, b) in _ranges)
            foreach (var (c, d) in other._ranges)
            {
                var lo = Math.Max(a, c);
                var hi = Math.Min(b, d);
                if (lo <= hi) result.Add((lo, hi));
            }
        return Normalize(result);
    }

    /// <summary>ASCII letters of either case for every letter in the set (the regex <c>i</c> flag, ASCII only).</summary>
    public CodePointSet WithAsciiCaseVariants()
    {
        var extra = new List<(int, int)>();
        foreach (var (lo, hi) in _ranges)
            for (var c = Math.Max(lo, 'A'); c <= Math.Min(hi, 'z'); c++)
            {
                if (c is >= 'a' and <= 'z') extra.Add((c - 32, c - 32));
                else if (c is >= 'A' and <= 'Z') extra.Add((c + 32, c + 32));
            }
        return Normalize(_ranges.Concat(extra));
    }

    private static CodePointSet Normalize(IEnumerable<(int Lo, int Hi)> ranges)
    {
        var sorted = ranges.Where(r => r.Lo <= r.Hi).OrderBy(r => r.Lo).ToList();
        var merged = new List<(int, int)>();
        foreach (var (lo, hi) in sorted)
        {
            if (merged.Count > 0 && lo <= merged[^1].Item2 + 1)
                merged[^1] = (merged[^1].Item1, Math.Max(merged[^1].Item2, hi));
            else
                merged.Add((lo, hi));
        }
        return new CodePointSet(merged);
    }

    /// <summary>One character of the set as UTF-8: alternatives of byte-set sequences (surrogates excluded).</summary>
    public GrammarNode ToUtf8()
    {
        var alternatives = new List<GrammarNode>();
        var ascii = new ByteSet();
        foreach (var (lo, hi) in Except(Of((0xD800, 0xDFFF)))._ranges)
        {
            if (lo <= 0x7F) ascii = ascii.Union(ByteSet.Range(lo, Math.Min(hi, 0x7F)));
            foreach (var (a, b) in new[] { (0x80, 0x7FF), (0x800, 0xFFFF), (0x10000, MaxCodePoint) })
            {
                var from = Math.Max(lo, a);
                var to = Math.Min(hi, b);
                if (from <= to) Split(from, to, alternatives);
            }
        }
        if (!ascii.IsEmpty) alternatives.Insert(0, new ByteSetNode(ascii));
        return alternatives.Count == 0 ? new ByteSetNode(new ByteSet()) : GrammarNode.Alt(alternatives.ToArray());
    }

    /// <summary>Splits a range of one encoded length until each piece is a product of byte ranges.</summary>
    private static void Split(int lo, int hi, List<GrammarNode> output)
    {
        var length = lo <= 0x7FF ? 2 : lo <= 0xFFFF ? 3 : 4;
        for (var i = 1; i < length; i++)
        {
            var m = (1 << (6 * i)) - 1;
            if ((lo & ~m) != (hi & ~m))
            {
                if ((lo & m) != 0)
                {
                    Split(lo, lo | m, output);
                    Split((lo | m) + 1, hi, output);
                    return;
                }
                if ((hi & m) != m)
                {
                    Split(lo, (hi & ~m) - 1, output);
                    Split(hi & ~m, hi, output);
                    return;
                }
            }
        }
        var a = Encode(lo);
        var b = Encode(hi);
        var items = new GrammarNode[a.Length];
        for (var k = 0; k < a.Length; k++) items[k] = new ByteSetNode(ByteSet.Range(a[k], b[k]));
        output.Add(new SeqNode(items));
    }

    private static byte[] Encode(int c) => System.Text.Encoding.UTF8.GetBytes(char.ConvertFromUtf32(c));
}
