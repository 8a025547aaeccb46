using System.Text.Json;
using System.Text.Json.Nodes;
using Bento.Runtime.Engine.Guided;

namespace Bento.Runtime.Server.Tools;

/// <summary>
/// How a model family writes tool calls in its output, and how to read them back (vLLM's tool parsers of the same
/// names). Chosen by the tool_call_parser setting, or from the chat template when it is auto.
/// </summary>
internal abstract class ToolCallFormat
{
    public abstract string Name { get; }

    /// <summary>The text that opens the tool calls (all output from there on is calls).</summary>
    public abstract string Marker { get; }

    /// <summary>Whether calls may only open the output (Llama's JSON), rather than follow some text.</summary>
    public virtual bool OnlyAtStart => false;

    /// <summary>The calls in <paramref name="text"/>, which starts at the marker; null when they do not parse.</summary>
    public abstract List<ToolCall>? ParseCalls(string text);

    public static ToolCallFormat? ByName(string name) => name switch
    {
        ToolCallParsers.Hermes => new HermesFormat(),
        ToolCallParsers.Llama3Json => new Llama3JsonFormat(),
        ToolCallParsers.Mistral => new MistralFormat(),
        _ => null,
    };

    /// <summary>The format a chat template prompts its model to use, if it shows one.</summary>
    public static ToolCallFormat? Detect(string? template)
    {
        if (template is null) return null;
        if (template.Contains("<tool_call>", StringComparison.Ordinal)) return new HermesFormat();
        if (template.Contains("[TOOL_CALLS]", StringComparison.Ordinal)) return new MistralFormat();
        if (template.Contains("<|python_tag|>", StringComparison.Ordinal) || (template.Contains("ipython", StringComparison.Ordinal) && template.Contains("\"parameters\"", StringComparison.Ordinal)))
            return new Llama3JsonFormat();
        return null;
    }

    /// <summary>A call object: <c>{"name", "arguments"}</c> (or Llama's <c>"parameters"</c>), arguments an object or JSON text.</summary>
    protected static ToolCall? Call(JsonNode? node)
    {
        if (node is not JsonObject o || o["name"] is not JsonValue nv || !nv.TryGetValue<string>(out var name)) return null;
        var args = o["arguments"] ?? o["parameters"];
        var text = args switch
        {
            null => "{}",
            JsonValue v when v.TryGetValue<string>(out var s) => s,
            _ => args.ToJsonString(JsonGrammar.CompactJson),
        };
        return new ToolCall(ToolCall.NewId(), name, text);
    }

    /// <summary>Consecutive JSON values in <paramref name="text"/>, separated by whitespace or <paramref name="separator"/>.</summary>
    protected static List<JsonNode?>? Values(string text, char? separator = null)
    {
        var values = new List<JsonNode?>();
        var bytes = System.Text.Encoding.UTF8.GetBytes(text);
        var offset = 0;
        while (true)
        {
            while (offset < bytes.Length && (bytes[offset] is (byte)' ' or (byte)'\n' or (byte)'\r' or (byte)'\t' || (separator is { } sep && bytes[offset] == sep))) offset++;
            if (offset >= bytes.Length) return values;
            var reader = new Utf8JsonReader(bytes.AsSpan(offset), new JsonReaderOptions { AllowMultipleValues = true });
            try
            {
                var node = JsonNode.Parse(ref reader);
                values.Add(node);
                offset += (int)reader.BytesConsumed;
            }
            catch (JsonException) { return null; }
        }
    }
}

/// <summary>Hermes / Qwen2.5 / Qwen3: <c>&lt;tool_call&gt;\n{"name": ..., "arguments": {...}}\n&lt;/tool_call&gt;</c>, repeated.</summary>
internal sealed class HermesFormat : ToolCallFormat
{
    public override string Name => ToolCallParsers.Hermes;
    public override string Marker => "<tool_call>";

    public override List<ToolCall>? ParseCalls(string text)
    {
        var calls = new List<ToolCall>();
        var rest = text;
        while (true)
        {
            rest = rest.TrimStart();
            if (rest.Length == 0) return calls;
            if (!rest.StartsWith(Marker, StringComparison.Ordinal)) return calls.Count > 0 ? calls : null;
            var end = rest.IndexOf("</tool_call>", StringComparison.Ordinal);
            var body = end < 0 ? rest[Marker.Length..] : rest[Marker.Length..end];
            if (Values(body) is not [var single] || Call(single) is not { } call) return null;
            calls.Add(call);
            if (end < 0) return calls;
            rest = rest[(end + "</tool_call>".Length)..];
        }
    }
}

/// <summary>Mistral (v0.3 tokenizer): <c>[TOOL_CALLS][{"name": ..., "arguments": {...}}, ...]</c>.</summary>
internal sealed class MistralFormat : ToolCallFormat
{
    public override string Name => ToolCallParsers.Mistral;
    public override string Marker => "[TOOL_CALLS]";

    public override List<ToolCall>? ParseCalls(string text)
    {
        if (Values(text[Marker.Length..]) is not [var value]) return null;
        var items = value is JsonArray a ? a.ToList() : [value];
        var calls = items.Select(Call).ToList();
        return calls.Count > 0 && calls.All(c => c is not null) ? calls! : null;
    }
}

/// <summary>Llama 3.1+ (JSON tool calling): the output is <c>{"name": ..., "parameters": {...}}</c> (several separated
/// by ';'), after <c>&lt;|python_tag|&gt;</c> or on its own.</summary>
internal sealed class Llama3JsonFormat : ToolCallFormat
{
    public const string PythonTag = "<|python_tag|>";
    public override string Name => ToolCallParsers.Llama3Json;
    public override string Marker => PythonTag;
    public override bool OnlyAtStart => true;

    public override List<ToolCall>? ParseCalls(string text)
    {
        var body = text.StartsWith(PythonTag, StringComparison.Ordinal) ? text[PythonTag.Length..] : text;
        if (Values(body, ';') is not { Count: > 0 } values) return null;
        var calls = values.Select(Call).ToList();
        return calls.All(c => c is not null) ? calls! : null;
    }
}
