using System.Globalization;

namespace Bento.Runtime.Engine.Guided;

/// <summary>The JSON integers within [min, max] (either side may be open) as a byte grammar of digit ranges.</summary>
internal static class IntegerRange
{
    private static readonly GrammarNode Digit = new ByteSetNode(ByteSet.Range('0', '9'));

    public static GrammarNode Node(long? min, long? max)
    {
        var parts = new List<GrammarNode>();
        if (min is null || min < 0)
        {
            // Negative numbers: a minus sign and a magnitude in [mLo, mHi].
            var mLo = max is < 0 ? -max.Value : 1;
            long? mHi = min is null ? null : -min.Value;
            if (mHi is null || mLo <= mHi) parts.Add(GrammarNode.Seq(GrammarNode.Text("-"), Positive(mLo, mHi)));
        }
        if ((min ?? -1) <= 0 && 0 <= (max ?? 1)) parts.Add(GrammarNode.Text("0"));
        var pLo = Math.Max(1, min ?? 1);
        if (max is null || pLo <= max) parts.Add(Positive(pLo, max));
        return GrammarNode.Alt(parts.ToArray());
    }

    /// <summary>Decimal numbers without leading zeros in [lo, hi] (hi null: unbounded), lo &gt;= 1.</summary>
    private static GrammarNode Positive(long lo, long? hi)
    {
        var parts = new List<GrammarNode>();
        var digits = Digits(lo);
        var last = hi is null ? digits : Digits(hi.Value);
        for (var d = digits; d <= last; d++)
        {
            var from = Math.Max(lo, Pow10(d - 1));
            var to = hi is null ? Pow10(d) - 1 : Math.Min(hi.Value, Pow10(d) - 1);
            if (from <= to) parts.Add(Fixed(Text(from), Text(to)));
        }
        // Unbounded: any number with more digits.
        if (hi is null) parts.Add(GrammarNode.Seq(new ByteSetNode(ByteSet.Range('1', '9')), new RepeatNode(Digit, digits, -1)));
        return GrammarNode.Alt(parts.ToArray());
    }

    /// <summary>Digit strings of one length between a and b inclusive.</summary>
    private static GrammarNode Fixed(string a, string b)
    {
        if (a.Length == 0) return GrammarNode.Empty;
        if (a == b) return GrammarNode.Text(a);
        if (a[0] == b[0]) return GrammarNode.Seq(GrammarNode.Text(a[..1]), Fixed(a[1..], b[1..]));
        var rest = a.Length - 1;
        if (a[1..].All(c => c == '0') && b[1..].All(c => c == '9'))
            return GrammarNode.Seq(new ByteSetNode(ByteSet.Range(a[0], b[0])), new RepeatNode(Digit, rest, rest));
        var parts = new List<GrammarNode>
        {
            GrammarNode.Seq(GrammarNode.Text(a[..1]), Fixed(a[1..], new string('9', rest))),
        };
        if (a[0] + 1 <= b[0] - 1) parts.Add(GrammarNode.Seq(new ByteSetNode(ByteSet.Range(a[0] + 1, b[0] - 1)), new RepeatNode(Digit, rest, rest)));
        parts.Add(GrammarNode.Seq(GrammarNode.Text(b[..1]), Fixed(new string('0', rest), b[1..])));
        return GrammarNode.Alt(parts.ToArray());
    }

    private static int Digits(long v) => Text(v).Length;
    private static long Pow10(int n) { long r = 1; for (var i = 0; i < n; i++) r *= 10; return r; }
    private static string Text(long v) => v.ToString(CultureInfo.InvariantCulture);
}
