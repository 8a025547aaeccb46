using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Bento.Runtime.Engine.Guided;

namespace Bento.Runtime.Server.Tools;

/// <summary>One function the client offers (OpenAI's <c>tools[i]</c>).</summary>
/// <param name="Raw">The tool object as sent, which the chat template receives as HF passes it.</param>
internal sealed record ToolDefinition(string Name, JsonNode? Parameters, JsonObject Raw);

internal enum ToolChoiceMode { None, Auto, Required, Named }

/// <summary>
/// A chat request's <c>tools</c> and <c>tool_choice</c>: <c>none</c> (tools shown to the template, no calls parsed),
/// <c>auto</c> (the model decides; calls parsed from its output in the family's format), <c>required</c> (constrained
/// decoding forces at least one call, as a JSON list of {name, parameters}) or a named function (constrained to its
/// parameters schema), as vLLM implements them.
/// </summary>
internal sealed partial class ToolRequest
{
    public required IReadOnlyList<ToolDefinition> Tools { get; init; }
    public required ToolChoiceMode Mode { get; init; }
    public ToolDefinition? Named { get; init; }
    public bool ParallelToolCalls { get; init; } = true;

    [GeneratedRegex("^[a-zA-Z0-9_.-]{1,64}$")]
    private static partial Regex FunctionName();

    /// <summary>Null when the request has no tools and no tool_choice.</summary>
    public static ToolRequest? Parse(JsonFields f)
    {
        var tools = new List<ToolDefinition>();
        switch (f["tools"])
        {
            case null: break;
            case JsonArray array:
                for (var i = 0; i < array.Count; i++) tools.Add(Tool(array[i], i));
                break;
            default: throw ApiException.BadRequest("'tools' must be a list of {type: function, function: {name, parameters}}", "tools");
        }
        if (tools.GroupBy(t => t.Name).FirstOrDefault(g => g.Count() > 1) is { } dup)
            throw ApiException.BadRequest($"tools: the function '{dup.Key}' is listed twice", "tools");
        var parallel = f.Bool("parallel_tool_calls") ?? true;

        var (mode, named) = f["tool_choice"] switch
        {
            null => (tools.Count > 0 ? ToolChoiceMode.Auto : ToolChoiceMode.None, (ToolDefinition?)null),
            JsonValue v when v.TryGetValue<string>(out var s) => s switch
            {
                "none" => (ToolChoiceMode.None, null),
                "auto" => (ToolChoiceMode.Auto, null),
                "required" => (ToolChoiceMode.Required, null),
                _ => throw ApiException.BadRequest($"tool_choice '{s}' is not none, auto, required or {{\"type\": \"function\", \"function\": {{\"name\": ...}}}}", "tool_choice"),
            },
            JsonObject o when o["function"] is JsonObject fn && fn["name"] is JsonValue nv && nv.TryGetValue<string>(out var name) =>
                (ToolChoiceMode.Named, tools.FirstOrDefault(t => t.Name == name)
                    ?? throw ApiException.BadRequest($"tool_choice names the function '{name}', which is not in tools ({(tools.Count == 0 ? "none given" : string.Join(", ", tools.Select(t => t.Name)))})", "tool_choice")),
            _ => throw ApiException.BadRequest("tool_choice must be none, auto, required or {\"type\": \"function\", \"function\": {\"name\": ...}}", "tool_choice"),
        };
        if (mode == ToolChoiceMode.Required && tools.Count == 0)
            throw ApiException.BadRequest("tool_choice 'required' needs at least one tool in tools", "tool_choice");
        if (tools.Count == 0 && mode != ToolChoiceMode.Named && f["tool_choice"] is null) return null;
        return new ToolRequest { Tools = tools, Mode = mode, Named = named, ParallelToolCalls = parallel };
    }

    private static ToolDefinition Tool(JsonNode? node, int index)
    {
        var where = $"tools[{index}]";
        if (node is not JsonObject tool || tool["function"] is not JsonObject function)
            throw ApiException.BadRequest($"{where} must be {{\"type\": \"function\", \"function\": {{\"name\", \"parameters\"}}}}", "tools");
        if (tool["type"] is JsonValue t && t.TryGetValue<string>(out var type) && type != "function")
            throw ApiException.BadRequest($"{where}.type '{type}' is not supported; only function tools are", "tools");
        if (function["name"] is not JsonValue nv || !nv.TryGetValue<string>(out var name) || !FunctionName().IsMatch(name))
            throw ApiException.BadRequest($"{where}.function.name must be 1 to 64 letters, digits, '_', '.' or '-'", "tools");
        var parameters = function["parameters"];
        if (parameters is not null and not JsonObject)
            throw ApiException.BadRequest($"{where}.function.parameters must be a JSON schema object", "tools");
        return new ToolDefinition(name, parameters, tool);
    }

    /// <summary>The tools as the chat template receives them (the request's objects, as transformers passes them).</summary>
    public JsonArray TemplateTools() => new(Tools.Select(t => (JsonNode)t.Raw.DeepClone()).ToArray());

    /// <summary>The constraint for required / named choices; null for none / auto.</summary>
    /// <exception cref="ApiException">A tool's parameters schema cannot be enforced (400 naming it).</exception>
    public GuidedSpec? Constraint()
    {
        try
        {
            if (Mode == ToolChoiceMode.Named)
                return GuidedSpec.JsonSchema(Named!.Parameters ?? EmptyParameters, $"tools[{Index(Named)}].function.parameters");
            if (Mode == ToolChoiceMode.Required)
                return GuidedSpec.FromGrammar("tool_calls", string.Join("\n", Tools.Select(t => t.Name + "\n" + (t.Parameters?.ToJsonString() ?? ""))) + (ParallelToolCalls ? "" : "\nsingle"),
                    BuildRequiredGrammar());
            return null;
        }
        catch (GuidedDecodingException e)
        {
            throw ApiException.BadRequest(e.Message, "tools");
        }
    }

    private int Index(ToolDefinition tool) => Tools.ToList().IndexOf(tool);

    private static readonly JsonObject EmptyParameters = new() { ["type"] = "object", ["properties"] = new JsonObject() };

    /// <summary><c>[{"name": NAME, "parameters": ARGS}, ...]</c>, one or more (one without parallel_tool_calls), each ARGS
    /// valid for its function; compiled now so a bad schema is a 400 before anything runs.</summary>
    private Func<Grammar> BuildRequiredGrammar()
    {
        var grammar = new Grammar();
        var root = grammar.Declare("root");
        var calls = new List<GrammarNode>();
        for (var i = 0; i < Tools.Count; i++)
        {
            var args = JsonSchemaCompiler.AddTo(grammar, Tools[i].Parameters ?? EmptyParameters, $"tools[{i}].function.parameters");
            calls.Add(GrammarNode.Seq(GrammarNode.Text("{\"name\":"), GrammarNode.Optional(GrammarNode.Text(" ")),
                JsonGrammar.Literal(JsonValue.Create(Tools[i].Name)), JsonGrammar.Separator(','), GrammarNode.Text("\"parameters\""),
                JsonGrammar.Separator(':'), new RuleRefNode(args), GrammarNode.Text("}")));
        }
        var call = new RuleRefNode(grammar.Add("tool-call", GrammarNode.Alt(calls.ToArray())));
        grammar.Define(root, GrammarNode.Seq(GrammarNode.Text("["), call,
            ParallelToolCalls ? GrammarNode.Star(GrammarNode.Seq(JsonGrammar.Separator(','), call)) : GrammarNode.Empty, GrammarNode.Text("]")));
        return () => grammar;
    }

    /// <summary>The calls in a required-mode output (<c>[{"name", "parameters"}]</c>).</summary>
    public static List<ToolCall> ParseRequired(string output)
    {
        var calls = new List<ToolCall>();
        if (JsonNode.Parse(output) is not JsonArray array) return calls;
        foreach (var item in array)
            if (item is JsonObject o && o["name"] is JsonValue n && n.TryGetValue<string>(out var name))
                calls.Add(new ToolCall(ToolCall.NewId(), name, (o["parameters"] ?? new JsonObject()).ToJsonString(JsonGrammar.CompactJson)));
        return calls;
    }
}

/// <summary>A parsed call: OpenAI's <c>{id, type: function, function: {name, arguments}}</c>, arguments as JSON text.</summary>
internal sealed record ToolCall(string Id, string Name, string Arguments)
{
    public static string NewId() => "chatcmpl-tool-" + Guid.NewGuid().ToString("N");

    public JsonObject ToJson(int? index = null)
    {
        var call = new JsonObject();
        if (index is not null) call["index"] = index;
        call["id"] = Id;
        call["type"] = "function";
        call["function"] = new JsonObject { ["name"] = Name, ["arguments"] = Arguments };
        return call;
    }
}
