using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Bento.Runtime.Engine.Guided;

/// <summary>
/// The pieces of JSON every schema grammar is made of. Output is compact JSON: no whitespace but one optional space
/// after ',' and ':' (as xgrammar with any_whitespace off), so a model cannot stall in endless whitespace and the
/// first non-JSON token is never allowed.
/// </summary>
internal static class JsonGrammar
{
    public static readonly JsonSerializerOptions CompactJson = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, WriteIndented = false };

    public static GrammarNode Separator(char c) => GrammarNode.Seq(GrammarNode.Text(c.ToString()), GrammarNode.Optional(GrammarNode.Text(" ")));

    /// <summary>One character of a JSON string's content (escaped where JSON requires).</summary>
    public static readonly GrammarNode StringChar = RegexCompiler.CharSet(CodePointSet.All, jsonString: true);

    public static GrammarNode String(int minLength = 0, int maxLength = -1) =>
        GrammarNode.Seq(GrammarNode.Text("\""), new RepeatNode(StringChar, minLength, maxLength), GrammarNode.Text("\""));

    private static readonly GrammarNode Digit = new ByteSetNode(ByteSet.Range('0', '9'));
    private static readonly GrammarNode NonZeroDigit = new ByteSetNode(ByteSet.Range('1', '9'));

    /// <summary><c>0</c> or a digit string without a leading zero.</summary>
    public static readonly GrammarNode Natural = GrammarNode.Alt(GrammarNode.Text("0"), GrammarNode.Seq(NonZeroDigit, GrammarNode.Star(Digit)));

    public static readonly GrammarNode Integer = GrammarNode.Seq(GrammarNode.Optional(GrammarNode.Text("-")), Natural);

    public static readonly GrammarNode Number = GrammarNode.Seq(
        Integer,
        GrammarNode.Optional(GrammarNode.Seq(GrammarNode.Text("."), new RepeatNode(Digit, 1, -1))),
        GrammarNode.Optional(GrammarNode.Seq(new ByteSetNode(ByteSet.Of((byte)'e').Union(ByteSet.Of((byte)'E'))),
            GrammarNode.Optional(new ByteSetNode(ByteSet.Of((byte)'+').Union(ByteSet.Of((byte)'-')))), new RepeatNode(Digit, 1, -1))));

    public static readonly GrammarNode Boolean = GrammarNode.Alt(GrammarNode.Text("true"), GrammarNode.Text("false"));

    public static readonly GrammarNode Null = GrammarNode.Text("null");

    /// <summary>A JSON value as compact text (an enum or const member).</summary>
    public static GrammarNode Literal(JsonNode? value) => GrammarNode.Text(value is null ? "null" : value.ToJsonString(CompactJson));

    /// <summary>Adds the rules "any JSON value" and "any JSON object" (and arrays) and returns their indexes.</summary>
    public static (int Value, int Object) AddAnyValue(Grammar grammar)
    {
        var value = grammar.Declare("json-value");
        var member = GrammarNode.Seq(String(), Separator(':'), new RuleRefNode(value));
        var obj = GrammarNode.Seq(GrammarNode.Text("{"),
            GrammarNode.Optional(GrammarNode.Seq(member, GrammarNode.Star(GrammarNode.Seq(Separator(','), member)))), GrammarNode.Text("}"));
        var objectRule = grammar.Add("json-object", obj);
        var arr = GrammarNode.Seq(GrammarNode.Text("["),
            GrammarNode.Optional(GrammarNode.Seq(new RuleRefNode(value), GrammarNode.Star(GrammarNode.Seq(Separator(','), new RuleRefNode(value))))), GrammarNode.Text("]"));
        var arrayRule = grammar.Add("json-array", arr);
        grammar.Define(value, GrammarNode.Alt(new RuleRefNode(objectRule), new RuleRefNode(arrayRule), String(), Number, Boolean, Null));
        return (value, objectRule);
    }

    /// <summary>Any JSON object (OpenAI's response_format json_object).</summary>
    public static Grammar AnyObject()
    {
        var grammar = new Grammar();
        var root = grammar.Declare("root");
        var (_, obj) = AddAnyValue(grammar);
        grammar.Define(root, new RuleRefNode(obj));
        return grammar;
    }
}
