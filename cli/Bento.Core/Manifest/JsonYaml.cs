using System.Globalization;
using System.Text.Json.Nodes;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;
using YamlDotNet.RepresentationModel;

namespace Bento.Core.Manifest;

/// <summary>
/// YAML as a syntax for JSON data: lets the manifest have one serializer (System.Text.Json) and one naming scheme
/// while bento.yaml stays human-friendly. Strings that would read back as another type are quoted.
/// </summary>
public static class JsonYaml
{
    public static string ToYaml(JsonNode? node)
    {
        var writer = new StringWriter { NewLine = "\n" };
        var emitter = new Emitter(writer, new EmitterSettings(2, int.MaxValue, false, 1024, false, false, "\n"));
        emitter.Emit(new StreamStart());
        emitter.Emit(new DocumentStart(null, null, true));
        Emit(emitter, node);
        emitter.Emit(new DocumentEnd(true));
        emitter.Emit(new StreamEnd());
        return writer.ToString();
    }

    public static JsonNode? FromYaml(string text)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(text));
        return stream.Documents.Count == 0 ? null : Convert(stream.Documents[0].RootNode);
    }

    private static void Emit(IEmitter emitter, JsonNode? node)
    {
        switch (node)
        {
            case null:
                emitter.Emit(new Scalar(null, null, "null", ScalarStyle.Plain, true, false));
                break;
            case JsonObject obj:
                emitter.Emit(new MappingStart(null, null, true, obj.Count == 0 ? MappingStyle.Flow : MappingStyle.Block));
                foreach (var (key, value) in obj)
                {
                    EmitString(emitter, key);
                    Emit(emitter, value);
                }
                emitter.Emit(new MappingEnd());
                break;
            case JsonArray array:
                emitter.Emit(new SequenceStart(null, null, true, array.Count == 0 ? SequenceStyle.Flow : SequenceStyle.Block));
                foreach (var item in array) Emit(emitter, item);
                emitter.Emit(new SequenceEnd());
                break;
            case JsonValue value when value.GetValueKind() == System.Text.Json.JsonValueKind.String:
                EmitString(emitter, value.GetValue<string>());
                break;
            default:
                emitter.Emit(new Scalar(null, null, node.ToJsonString(), ScalarStyle.Plain, true, false));
                break;
        }
    }

    private static void EmitString(IEmitter emitter, string text)
    {
        var plainIsSafe = text.Length > 0 && Classify(text) is string && text.Trim() == text &&
                          text.IndexOfAny([':', '#', '\n', '\'', '"', '{', '}', '[', ']', ',', '&', '*', '!', '|', '>', '%', '@', '`']) < 0 &&
                          text[0] != '-' && text[0] != '?';
        emitter.Emit(new Scalar(null, null, text, plainIsSafe ? ScalarStyle.Plain : ScalarStyle.DoubleQuoted, true, true));
    }

    private static JsonNode? Convert(YamlNode node) => node switch
    {
        YamlMappingNode map => new JsonObject(map.Children.Select(kv =>
            KeyValuePair.Create(((YamlScalarNode)kv.Key).Value ?? "", Convert(kv.Value)))),
        YamlSequenceNode seq => new JsonArray(seq.Children.Select(Convert).ToArray()),
        YamlScalarNode { Style: ScalarStyle.Plain } s => Classify(s.Value ?? "") switch
        {
            null => null,
            bool b => JsonValue.Create(b),
            long l => JsonValue.Create(l),
            double d => JsonValue.Create(d),
            Ambiguous => throw new FormatException($"'{s.Value}' at line {s.Start.Line} is not a value bento.yaml holds (a number out of range, " +
                                                   "or a YAML 1.1 word such as yes/no/.inf); quote it if it is text"),
            _ => JsonValue.Create(s.Value),
        },
        YamlScalarNode s => JsonValue.Create(s.Value ?? ""),
        _ => throw new FormatException("unsupported YAML node"),
    };

    /// <summary>What a plain YAML 1.2 core-schema scalar means.</summary>
    private static object? Classify(string text)
    {
        if (text is "" or "~" or "null" or "Null" or "NULL") return null;
        if (text is "true" or "True" or "TRUE") return true;
        if (text is "false" or "False" or "FALSE") return false;
        if (long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var l)) return l;
        if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && !text.Contains("Infinity") && !text.Contains("NaN"))
            return double.IsFinite(d) ? d : Ambiguous.Value; // 1e999 would be infinity, which JSON cannot hold
        if (text is ".inf" or "-.inf" or "+.inf" or ".Inf" or ".INF" or ".nan" or ".NaN" or ".NAN" or "yes" or "no" or "on" or "off" or "Yes" or "No" or "On" or "Off" or "y" or "n")
            return Ambiguous.Value;
        return text;
    }

    /// <summary>
    /// A plain scalar other YAML readers take for something other than text: written quoted, and refused when read
    /// plain (it never comes from <see cref="ToYaml"/>), rather than guessed at.
    /// </summary>
    private sealed class Ambiguous
    {
        public static readonly Ambiguous Value = new();
    }
}
