using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace Bento.Core.Manifest;

/// <summary>Reads and writes <see cref="BentoManifest"/> as YAML (bento.yaml) or JSON (<c>-o json</c>).</summary>
public static class ManifestSerializer
{
    public static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DictionaryKeyPolicy = null,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Skip,
    };

    public static JsonNode ToJsonNode(BentoManifest manifest) => JsonSerializer.SerializeToNode(manifest, Options)!;

    public static string ToJson(BentoManifest manifest) => JsonSerializer.Serialize(manifest, Options);

    public static string ToYaml(BentoManifest manifest) => JsonYaml.ToYaml(ToJsonNode(manifest));

    /// <summary>Parses bento.yaml; <paramref name="source"/> names it in errors.</summary>
    public static BentoManifest FromYaml(string text, string source)
    {
        // Size, depth and alias expansion are bounded before the recursive loader and converter run.
        Spec.YamlBounds.Check(text, source);
        JsonNode? node;
        try { node = JsonYaml.FromYaml(text); }
        catch (Exception e) when (e is YamlDotNet.Core.YamlException or FormatException or InvalidCastException or InvalidOperationException or ArgumentException)
        {
            throw new BentoException($"{source}: the bento manifest is not valid YAML ({e.Message})");
        }
        return FromJsonNode(node, source);
    }

    public static BentoManifest FromJsonNode(JsonNode? node, string source)
    {
        if (node is not JsonObject obj) throw new BentoException($"{source}: the bento manifest is not a mapping");
        var schema = obj["schema"] is JsonValue v && v.TryGetValue<long>(out var s) ? s : 0;
        if (schema < 1) throw new BentoException($"{source}: not a bento manifest (no 'schema' number)");
        if (schema > BentoManifest.CurrentSchema)
            throw new BentoException($"{source}: manifest schema {schema} is newer than this BentoBuilder understands ({BentoManifest.CurrentSchema}); upgrade BentoBuilder");
        BentoManifest manifest;
        try { manifest = node.Deserialize<BentoManifest>(Options)!; }
        catch (JsonException e) { throw new BentoException($"{source}: the bento manifest does not match schema {schema}: {e.Message}"); }
        BentoRules.Check(manifest, source);
        return manifest;
    }
}
