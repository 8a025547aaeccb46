using System.Text;

namespace Bento.Runtime.Engine.Guided;

/// <summary>
/// A grammar over bytes, the common form every constraint compiles to (JSON schema, regex, choice): expressions of
/// byte strings, byte sets, sequences, alternatives, bounded or unbounded repeats and references to named rules, which
/// make it context-free (JSON nesting, recursive $refs). Rule 0 is the start.
/// </summary>
internal abstract record GrammarNode
{
    public static GrammarNode Text(string text) => new LiteralNode(Encoding.UTF8.GetBytes(text));
    public static GrammarNode Seq(params GrammarNode[] items) => items.Length == 1 ? items[0] : new SeqNode(items);
    public static GrammarNode Alt(params GrammarNode[] items) => items.Length == 1 ? items[0] : new AltNode(items);
    public static GrammarNode Optional(GrammarNode item) => new RepeatNode(item, 0, 1);
    public static GrammarNode Star(GrammarNode item) => new RepeatNode(item, 0, -1);
    public static readonly GrammarNode Empty = new SeqNode([]);
}

internal sealed record LiteralNode(byte[] Bytes) : GrammarNode;

/// <summary>Exactly one byte from the set.</summary>
internal sealed record ByteSetNode(ByteSet Set) : GrammarNode;

internal sealed record SeqNode(GrammarNode[] Items) : GrammarNode;

internal sealed record AltNode(GrammarNode[] Items) : GrammarNode;

/// <param name="Max">-1: unbounded.</param>
internal sealed record RepeatNode(GrammarNode Item, int Min, int Max) : GrammarNode;

internal sealed record RuleRefNode(int Rule) : GrammarNode;

/// <summary>The rules of a grammar; rules may refer to each other (and themselves) by index.</summary>
internal sealed class Grammar
{
    private readonly List<GrammarNode?> _rules = [];
    private readonly List<string> _names = [];

    public IReadOnlyList<GrammarNode?> Rules => _rules;
    public IReadOnlyList<string> Names => _names;

    /// <summary>Reserves a rule (so others can refer to it before it is defined) and returns its index.</summary>
    public int Declare(string name)
    {
        _rules.Add(null);
        _names.Add(name);
        return _rules.Count - 1;
    }

    public void Define(int rule, GrammarNode body) => _rules[rule] = body;

    public int Add(string name, GrammarNode body)
    {
        var index = Declare(name);
        Define(index, body);
        return index;
    }

    /// <summary>Total size of the expressions, to refuse grammars too big to compile quickly.</summary>
    public long Size()
    {
        long total = 0;
        foreach (var rule in _rules) total += rule is null ? 0 : Size(rule);
        return total;
    }

    private static long Size(GrammarNode node) => node switch
    {
        LiteralNode l => l.Bytes.Length,
        SeqNode s => 1 + s.Items.Sum(Size),
        AltNode a => 1 + a.Items.Sum(Size),
        RepeatNode r => 1 + Size(r.Item) * Math.Max(1, r.Max < 0 ? r.Min + 1 : r.Max),
        _ => 1,
    };
}
