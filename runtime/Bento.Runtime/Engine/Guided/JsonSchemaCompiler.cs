using System.Text.Json;
using System.Text.Json.Nodes;

namespace Bento.Runtime.Engine.Guided;

/// <summary>
/// Compiles a JSON Schema to a byte grammar whose every complete string is compact JSON that validates against it.
/// The subset xgrammar (vLLM's default backend) supports: <c>type</c> (one or a list), <c>properties</c> (emitted in
/// the schema's order), <c>required</c>, <c>additionalProperties</c> (absent means none, as in xgrammar's strict mode;
/// true or a schema allows further keys, never repeating a declared one), <c>enum</c>, <c>const</c>, <c>anyOf</c>/
/// <c>oneOf</c>, <c>allOf</c> of one schema, <c>items</c>, <c>prefixItems</c>, <c>minItems</c>/<c>maxItems</c>,
/// <c>minLength</c>/<c>maxLength</c>, <c>pattern</c> (matching the whole string), <c>format</c> (date, time,
/// date-time, uuid, ipv4, email), integer <c>minimum</c>/<c>maximum</c> (and exclusive), <c>$ref</c> into
/// <c>$defs</c>/<c>definitions</c> or any pointer in the document (recursion included), <c>nullable</c>. Annotations
/// are ignored; any other keyword that constrains values is refused with the path and keyword named, never ignored.
/// </summary>
internal sealed class JsonSchemaCompiler
{
    /// <summary>Grammars above this many expression nodes are refused: compiling and matching them would be slow.</summary>
    public const long MaxGrammarSize = 400_000;

    private static readonly HashSet<string> Annotations =
    [
        "title", "description", "default", "examples", "$schema", "$id", "$comment", "deprecated", "readOnly", "writeOnly",
        "$defs", "definitions", "contentEncoding", "contentMediaType", "discriminator", "strict", "example",
    ];

    private static readonly HashSet<string> Refused =
    [
        "not", "if", "then", "else", "patternProperties", "propertyNames", "dependentRequired", "dependentSchemas", "dependencies",
        "unevaluatedProperties", "unevaluatedItems", "contains", "minContains", "maxContains", "multipleOf", "minProperties",
        "maxProperties", "$dynamicRef", "$recursiveRef", "$anchor", "$dynamicAnchor",
    ];

    private const string Date = @"[0-9]{4}-((0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])|(0[469]|11)-(0[1-9]|[12][0-9]|30)|02-(0[1-9]|1[0-9]|2[0-8]))";

    private static readonly Dictionary<string, string> Formats = new()
    {
        // Days that exist in every year (29 February only where the year is a leap year would need arithmetic: left out).
        ["date"] = Date,
        ["time"] = @"([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])",
        ["date-time"] = Date + @"T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])",
        ["uuid"] = @"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        ["ipv4"] = @"((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])",
        // A conservative subset of RFC 5321 addresses every validator accepts: dot-separated atoms, a dotted host name.
        ["email"] = @"[a-zA-Z0-9_%+-]{1,16}(\.[a-zA-Z0-9_%+-]{1,16}){0,3}@([a-zA-Z0-9]{1,20}\.){1,3}[a-zA-Z]{2,10}",
    };

    private readonly Grammar _grammar;
    private readonly JsonNode? _document;
    private readonly string _param;
    private readonly Dictionary<string, int> _refRules = new(StringComparer.Ordinal);
    private int? _anyValue;

    private JsonSchemaCompiler(Grammar grammar, JsonNode? document, string param) => (_grammar, _document, _param) = (grammar, document, param);

    /// <param name="param">The request field that held the schema, named in errors.</param>
    public static Grammar Compile(JsonNode? schema, string param)
    {
        var grammar = new Grammar();
        var root = grammar.Declare("root");
        grammar.Define(root, new RuleRefNode(AddTo(grammar, schema, param)));
        return grammar;
    }

    /// <summary>Adds the rules of <paramref name="schema"/> (its own $refs resolved within it) to a grammar being
    /// assembled, e.g. one tool's parameters inside a tool call; returns the rule of a value it accepts.</summary>
    public static int AddTo(Grammar grammar, JsonNode? schema, string param)
    {
        var compiler = new JsonSchemaCompiler(grammar, schema, param);
        var root = grammar.Declare(param);
        grammar.Define(root, compiler.Schema(schema, "#"));
        if (grammar.Size() > MaxGrammarSize)
            throw new GuidedDecodingException($"{param}: the schema is too large to enforce (its grammar exceeds {MaxGrammarSize} nodes); lower maxLength/maxItems bounds", param);
        return root;
    }

    private GuidedDecodingException Error(string path, string what) => new($"{_param}: at {path}: {what}", _param);

    private GrammarNode AnyValue() => new RuleRefNode(_anyValue ??= JsonGrammar.AddAnyValue(_grammar).Value);

    private GrammarNode Schema(JsonNode? node, string path)
    {
        switch (node)
        {
            case JsonValue v when v.GetValueKind() == JsonValueKind.True: return AnyValue();
            case JsonValue v when v.GetValueKind() == JsonValueKind.False: throw Error(path, "the schema false matches nothing");
            case JsonObject: break;
            default: throw Error(path, "a schema must be an object or a boolean");
        }
        var s = (JsonObject)node;
        foreach (var (key, _) in s)
            if (Refused.Contains(key)) throw Error(path, $"'{key}' is not supported by this server's constrained decoding");
        if (s["uniqueItems"] is JsonValue u && u.GetValueKind() == JsonValueKind.True)
            throw Error(path, "'uniqueItems' is not supported by this server's constrained decoding");

        var constraining = s.Select(p => p.Key).Where(k => !Annotations.Contains(k)).ToList();
        GrammarNode result;
        if (s["$ref"] is { } reference)
        {
            RequireOnly(path, constraining, "$ref", "nullable");
            result = Ref(reference, path);
        }
        else if (s["anyOf"] is { } || s["oneOf"] is { })
        {
            var key = s["anyOf"] is not null ? "anyOf" : "oneOf";
            RequireOnly(path, constraining, key, "nullable");
            if (s[key] is not JsonArray { Count: > 0 } branches) throw Error(path, $"'{key}' must be a non-empty list of schemas");
            result = GrammarNode.Alt(branches.Select((b, i) => Schema(b, $"{path}/{key}/{i}")).ToArray());
        }
        else if (s["allOf"] is { } all)
        {
            RequireOnly(path, constraining, "allOf", "nullable");
            if (all is not JsonArray { Count: 1 } one) throw Error(path, "'allOf' is supported only with exactly one schema");
            result = Schema(one[0], $"{path}/allOf/0");
        }
        else if (s["enum"] is { } options)
        {
            if (options is not JsonArray { Count: > 0 } list) throw Error(path, "'enum' must be a non-empty list");
            result = GrammarNode.Alt(list.Select(JsonGrammar.Literal).ToArray());
        }
        else if (s.ContainsKey("const"))
        {
            result = JsonGrammar.Literal(s["const"]);
        }
        else
        {
            var types = Types(s, path);
            result = types.Count == 0 ? AnyValue() : GrammarNode.Alt(types.Select(t => Typed(s, t, path)).ToArray());
        }
        if (s["nullable"] is JsonValue n && n.GetValueKind() == JsonValueKind.True) result = GrammarNode.Alt(result, JsonGrammar.Null);
        return result;
    }

    private void RequireOnly(string path, List<string> constraining, params string[] allowed)
    {
        var extra = constraining.FirstOrDefault(k => !allowed.Contains(k));
        if (extra is not null) throw Error(path, $"'{extra}' next to '{allowed[0]}' is not supported; move it into the referenced or listed schemas");
    }

    private List<string> Types(JsonObject s, string path)
    {
        switch (s["type"])
        {
            case null:
                // No type: what the keywords imply, else any value.
                if (s.ContainsKey("properties") || s.ContainsKey("required") || s.ContainsKey("additionalProperties")) return ["object"];
                if (s.ContainsKey("items") || s.ContainsKey("prefixItems") || s.ContainsKey("minItems") || s.ContainsKey("maxItems")) return ["array"];
                if (s.ContainsKey("minLength") || s.ContainsKey("maxLength") || s.ContainsKey("pattern") || s.ContainsKey("format")) return ["string"];
                if (s.ContainsKey("minimum") || s.ContainsKey("maximum") || s.ContainsKey("exclusiveMinimum") || s.ContainsKey("exclusiveMaximum")) return ["number"];
                return [];
            case JsonValue v when v.TryGetValue<string>(out var one):
                return [CheckType(one, path)];
            case JsonArray a when a.Count > 0 && a.All(t => t is JsonValue tv && tv.TryGetValue<string>(out _)):
                return a.Select(t => CheckType(t!.GetValue<string>(), path)).Distinct().ToList();
            default:
                throw Error(path, "'type' must be a type name or a non-empty list of them");
        }
    }

    private string CheckType(string type, string path) => type is "object" or "array" or "string" or "number" or "integer" or "boolean" or "null"
        ? type
        : throw Error(path, $"unknown type '{type}' (expected object, array, string, number, integer, boolean or null)");

    private GrammarNode Typed(JsonObject s, string type, string path) => type switch
    {
        "object" => Object(s, path),
        "array" => Array(s, path),
        "string" => String(s, path),
        "integer" => Integer(s, path),
        "number" => Number(s, path),
        "boolean" => JsonGrammar.Boolean,
        _ => JsonGrammar.Null,
    };

    private int? Count(JsonObject s, string key, string path)
    {
        if (s[key] is not { } node) return null;
        if (node is JsonValue v && v.GetValueKind() == JsonValueKind.Number && NumberOf(v) is var d && d >= 0 && d == Math.Floor(d))
            return d > RegexCompiler.MaxRepeat ? throw Error(path, $"'{key}' above {RegexCompiler.MaxRepeat} is not supported") : (int)d;
        throw Error(path, $"'{key}' must be a non-negative integer");
    }

    private GrammarNode String(JsonObject s, string path)
    {
        var min = Count(s, "minLength", path) ?? 0;
        var max = Count(s, "maxLength", path) ?? -1;
        if (max >= 0 && max < min) throw Error(path, "'maxLength' is below 'minLength'");
        string? pattern = null;
        if (s["pattern"] is { } p)
            pattern = p is JsonValue pv && pv.TryGetValue<string>(out var ps) ? ps : throw Error(path, "'pattern' must be a string");
        if (s["format"] is { } f)
        {
            var format = f is JsonValue fv && fv.TryGetValue<string>(out var fs) ? fs : throw Error(path, "'format' must be a string");
            if (!Formats.TryGetValue(format, out var formatPattern))
                throw Error(path, $"format '{format}' is not supported (supported: {string.Join(", ", Formats.Keys)})");
            if (pattern is not null) throw Error(path, "'pattern' together with 'format' is not supported");
            pattern = formatPattern;
        }
        if (pattern is null) return JsonGrammar.String(min, max);
        if (s.ContainsKey("minLength") || s.ContainsKey("maxLength")) throw Error(path, "'minLength'/'maxLength' together with 'pattern' or 'format' is not supported; bound the length in the pattern");
        try
        {
            return GrammarNode.Seq(GrammarNode.Text("\""), RegexCompiler.Compile(pattern.TrimStart('^').TrimEnd('$'), _param, jsonString: true), GrammarNode.Text("\""));
        }
        catch (GuidedDecodingException e)
        {
            throw Error(path, e.Message[(_param.Length + 2)..]);
        }
    }

    private long? Bound(JsonObject s, string key, string path)
    {
        if (s[key] is not { } node) return null;
        if (node is JsonValue v && v.GetValueKind() == JsonValueKind.Number)
        {
            var d = NumberOf(v);
            if (Math.Abs(d) < 1e15) return (long)(key.StartsWith("exclusiveMin", StringComparison.Ordinal) ? Math.Floor(d) + 1 :
                key.StartsWith("exclusiveMax", StringComparison.Ordinal) ? Math.Ceiling(d) - 1 :
                key == "minimum" ? Math.Ceiling(d) : Math.Floor(d));
            throw Error(path, $"'{key}' beyond ±1e15 is not supported");
        }
        throw Error(path, $"'{key}' must be a number");
    }

    private GrammarNode Integer(JsonObject s, string path)
    {
        var min = Max(Bound(s, "minimum", path), Bound(s, "exclusiveMinimum", path));
        var max = Min(Bound(s, "maximum", path), Bound(s, "exclusiveMaximum", path));
        if (min is null && max is null) return JsonGrammar.Integer;
        if (min is not null && max is not null && min > max) throw Error(path, "no integer lies within the bounds");
        return IntegerRange.Node(min, max);

        static long? Max(long? a, long? b) => a is null ? b : b is null ? a : Math.Max(a.Value, b.Value);
        static long? Min(long? a, long? b) => a is null ? b : b is null ? a : Math.Min(a.Value, b.Value);
    }

    private GrammarNode Number(JsonObject s, string path)
    {
        foreach (var key in new[] { "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum" })
            if (s.ContainsKey(key)) throw Error(path, $"'{key}' on a number (not integer) is not supported by this server's constrained decoding");
        return JsonGrammar.Number;
    }

    private GrammarNode Object(JsonObject s, string path)
    {
        var properties = new List<(string Name, GrammarNode Value, bool Required)>();
        var required = new List<string>();
        if (s["required"] is { } r)
        {
            if (r is not JsonArray ra || !ra.All(x => x is JsonValue xv && xv.TryGetValue<string>(out _))) throw Error(path, "'required' must be a list of property names");
            required = ra.Select(x => x!.GetValue<string>()).Distinct().ToList();
        }
        if (s["properties"] is { } p)
        {
            if (p is not JsonObject po) throw Error(path, "'properties' must be an object of schemas");
            foreach (var (name, schema) in po)
                properties.Add((name, Schema(schema, $"{path}/properties/{Escape(name)}"), required.Contains(name)));
        }
        foreach (var name in required.Where(n => properties.All(q => q.Name != n)))
            properties.Add((name, AnyValue(), true));

        GrammarNode? additional = s["additionalProperties"] switch
        {
            null => null,
            JsonValue v when v.GetValueKind() == JsonValueKind.False => null,
            JsonValue v when v.GetValueKind() == JsonValueKind.True => AnyValue(),
            JsonObject o => Schema(o, $"{path}/additionalProperties"),
            _ => throw Error(path, "'additionalProperties' must be a boolean or a schema"),
        };

        GrammarNode Member(string name, GrammarNode value) =>
            GrammarNode.Seq(JsonGrammar.Literal(JsonValue.Create(name)), JsonGrammar.Separator(':'), value);

        // Tail(i, emitted): the members from property i on, after `emitted` members. One rule per (i, emitted) keeps the
        // grammar linear in the number of optional properties.
        GrammarNode? extraMember = additional is null ? null
            : GrammarNode.Seq(StringExcept(properties.Select(q => q.Name).ToList()), JsonGrammar.Separator(':'), additional);
        var tails = new int[properties.Count + 1, 2];
        for (var i = properties.Count; i >= 0; i--)
            for (var emitted = 0; emitted < 2; emitted++)
            {
                GrammarNode body;
                if (i == properties.Count)
                {
                    body = extraMember is null ? GrammarNode.Empty
                        : emitted == 1 ? GrammarNode.Star(GrammarNode.Seq(JsonGrammar.Separator(','), extraMember))
                        : GrammarNode.Optional(GrammarNode.Seq(extraMember, GrammarNode.Star(GrammarNode.Seq(JsonGrammar.Separator(','), extraMember))));
                }
                else
                {
                    var (name, value, isRequired) = properties[i];
                    var take = GrammarNode.Seq(emitted == 1 ? JsonGrammar.Separator(',') : GrammarNode.Empty, Member(name, value), new RuleRefNode(tails[i + 1, 1]));
                    body = isRequired ? take : GrammarNode.Alt(take, new RuleRefNode(tails[i + 1, emitted]));
                }
                tails[i, emitted] = _grammar.Add($"{path}/members[{i},{emitted}]", body);
            }
        return GrammarNode.Seq(GrammarNode.Text("{"), new RuleRefNode(tails[0, 0]), GrammarNode.Text("}"));
    }

    /// <summary>A JSON string that is none of <paramref name="names"/> (additional keys never repeat a declared one).</summary>
    private static GrammarNode StringExcept(IReadOnlyList<string> names)
    {
        if (names.Count == 0) return JsonGrammar.String();
        var anyChars = GrammarNode.Star(JsonGrammar.StringChar);
        // Walk a trie of the names' code points: at each node the string may end (unless a name ends there), go on
        // with a character no name continues with (then anything), or follow a name's next character.
        GrammarNode Node(IReadOnlyList<int[]> suffixes)
        {
            var alternatives = new List<GrammarNode>();
            if (suffixes.All(x => x.Length > 0)) alternatives.Add(GrammarNode.Text("\""));
            var next = suffixes.Where(x => x.Length > 0).GroupBy(x => x[0]).ToList();
            var others = CodePointSet.All.Except(next.Aggregate(CodePointSet.Empty, (set, g) => set.Union(CodePointSet.Single(g.Key))));
            alternatives.Add(GrammarNode.Seq(RegexCompiler.CharSet(others, jsonString: true), anyChars, GrammarNode.Text("\"")));
            foreach (var group in next)
                alternatives.Add(GrammarNode.Seq(RegexCompiler.CharSet(CodePointSet.Single(group.Key), jsonString: true), Node(group.Select(x => x[1..]).ToList())));
            return GrammarNode.Alt(alternatives.ToArray());
        }
        return GrammarNode.Seq(GrammarNode.Text("\""), Node(names.Select(CodePoints).ToList()));

        static int[] CodePoints(string s)
        {
            var list = new List<int>();
            for (var i = 0; i < s.Length; i += char.IsSurrogatePair(s, i) ? 2 : 1) list.Add(char.ConvertToUtf32(s, i));
            return list.ToArray();
        }
    }

    private GrammarNode Array(JsonObject s, string path)
    {
        var min = Count(s, "minItems", path) ?? 0;
        var max = Count(s, "maxItems", path) ?? -1;
        if (max >= 0 && max < min) throw Error(path, "'maxItems' is below 'minItems'");
        var prefix = new List<GrammarNode>();
        if (s["prefixItems"] is { } pi)
        {
            if (pi is not JsonArray pa) throw Error(path, "'prefixItems' must be a list of schemas");
            for (var i = 0; i < pa.Count; i++) prefix.Add(Schema(pa[i], $"{path}/prefixItems/{i}"));
        }
        GrammarNode? item = s["items"] switch
        {
            null => prefix.Count > 0 ? null : AnyValue(), // strict: no items beyond prefixItems
            JsonValue v when v.GetValueKind() == JsonValueKind.False => null,
            var node => Schema(node, $"{path}/items"),
        };
        if (item is null && min > prefix.Count) throw Error(path, $"'minItems' {min} needs more items than the {prefix.Count} allowed");
        if (max >= 0 && prefix.Count > max) prefix = prefix.Take(max).ToList();

        var separator = JsonGrammar.Separator(',');
        // The elements after the prefix: up to (max - prefix) more, at least (min - prefix).
        GrammarNode Tail(bool first)
        {
            if (item is null) return GrammarNode.Empty;
            var need = Math.Max(0, min - prefix.Count);
            var room = max < 0 ? -1 : max - prefix.Count;
            if (room == 0) return GrammarNode.Empty;
            if (!first) return new RepeatNode(GrammarNode.Seq(separator, item), need, room);
            var rest = new RepeatNode(GrammarNode.Seq(separator, item), Math.Max(0, need - 1), room < 0 ? -1 : room - 1);
            var some = GrammarNode.Seq(item, rest);
            return need > 0 ? some : GrammarNode.Optional(some);
        }
        GrammarNode Elements(int i)
        {
            if (i == prefix.Count) return Tail(first: i == 0);
            var part = GrammarNode.Seq(i == 0 ? GrammarNode.Empty : separator, prefix[i], Elements(i + 1));
            return i >= min ? GrammarNode.Optional(part) : part;
        }
        return GrammarNode.Seq(GrammarNode.Text("["), Elements(0), GrammarNode.Text("]"));
    }

    private GrammarNode Ref(JsonNode reference, string path)
    {
        if (reference is not JsonValue rv || !rv.TryGetValue<string>(out var pointer)) throw Error(path, "'$ref' must be a string");
        if (!pointer.StartsWith('#')) throw Error(path, $"'$ref' '{pointer}' points outside this schema; only local references (#/$defs/...) are supported");
        if (_refRules.TryGetValue(pointer, out var rule)) return new RuleRefNode(rule);
        var target = Resolve(pointer, path);
        rule = _grammar.Declare(pointer);
        _refRules[pointer] = rule;
        _grammar.Define(rule, Schema(target, pointer));
        return new RuleRefNode(rule);
    }

    private JsonNode? Resolve(string pointer, string path)
    {
        var node = _document;
        var fragment = Uri.UnescapeDataString(pointer[1..]);
        if (fragment.Length == 0) return node;
        if (!fragment.StartsWith('/')) throw Error(path, $"'$ref' '{pointer}' is not a JSON pointer (anchors are not supported)");
        foreach (var raw in fragment[1..].Split('/'))
        {
            var part = raw.Replace("~1", "/").Replace("~0", "~");
            node = node switch
            {
                JsonObject o when o.ContainsKey(part) => o[part],
                JsonArray a when int.TryParse(part, out var index) && index >= 0 && index < a.Count => a[index],
                _ => throw Error(path, $"'$ref' '{pointer}' does not resolve within the schema"),
            };
        }
        return node;
    }

    private static double NumberOf(JsonValue v) => double.Parse(v.ToJsonString(), System.Globalization.CultureInfo.InvariantCulture);

    private static string Escape(string name) => name.Replace("~", "~0").Replace("/", "~1");
}
