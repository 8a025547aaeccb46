using System.Text.Json.Nodes;

namespace Bento.Runtime.Engine.Guided;

/// <summary>
/// What a request asks the output to be, before it is compiled for a tokenizer: a JSON schema, any JSON object, a
/// regex, one of some strings, or a grammar built by the server itself (tool calls). <see cref="Key"/> identifies it
/// in the compiled-constraint cache.
/// </summary>
public sealed class GuidedSpec
{
    private readonly Func<Grammar> _build;

    private GuidedSpec(string kind, string key, Func<Grammar> build) => (Kind, Key, _build) = (kind, kind + "\n" + key, build);

    /// <summary>json_schema, json_object, regex, choice or a server-made kind such as tool_call.</summary>
    public string Kind { get; }
    public string Key { get; }

    internal Grammar Build() => _build();

    /// <exception cref="GuidedDecodingException">The schema is invalid or uses what we do not support (checked now).</exception>
    public static GuidedSpec JsonSchema(JsonNode? schema, string param)
    {
        var grammar = JsonSchemaCompiler.Compile(schema, param);
        return new GuidedSpec("json_schema", schema?.ToJsonString() ?? "null", () => grammar);
    }

    public static GuidedSpec JsonObject() => new("json_object", "", JsonGrammar.AnyObject);

    /// <exception cref="GuidedDecodingException">The regex is invalid or unsupported.</exception>
    public static GuidedSpec Regex(string pattern, string param)
    {
        var node = RegexCompiler.Compile(pattern, param);
        var grammar = new Grammar();
        grammar.Add("root", node);
        if (grammar.Size() > JsonSchemaCompiler.MaxGrammarSize)
            throw new GuidedDecodingException($"{param}: the regex is too large to enforce (its automaton would exceed {JsonSchemaCompiler.MaxGrammarSize} nodes); lower its repeat counts", param);
        return new GuidedSpec("regex", pattern, () => grammar);
    }

    public static GuidedSpec Choice(IReadOnlyList<string> choices, string param)
    {
        if (choices.Count == 0) throw new GuidedDecodingException($"{param} must list at least one choice", param);
        if (choices.Any(c => c.Length == 0)) throw new GuidedDecodingException($"{param}: a choice must not be empty", param);
        var grammar = new Grammar();
        grammar.Add("root", GrammarNode.Alt(choices.Distinct().Select(GrammarNode.Text).ToArray()));
        return new GuidedSpec("choice", string.Join("\n", choices.Select(c => c.Replace("\\", "\\\\").Replace("\n", "\\n"))), () => grammar);
    }

    /// <summary>A grammar the server assembles (e.g. a tool call in a model family's format).</summary>
    internal static GuidedSpec FromGrammar(string kind, string key, Func<Grammar> build) => new(kind, key, build);
}
