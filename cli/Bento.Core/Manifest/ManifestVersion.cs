using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Bento.Core.Manifest;

/// <summary>
/// A bento's version is the sha256 of its manifest's content (everything but version, created and build), in a
/// canonical JSON form with sorted keys. Same inputs, same version; and a manifest can be checked against its own
/// version, which is how import and verify detect a tampered bento.yaml.
/// </summary>
public static class ManifestVersion
{
    public const int Length = 16;

    public static string Compute(BentoManifest manifest)
    {
        var node = ManifestSerializer.ToJsonNode(manifest).AsObject();
        node.Remove("version");
        node.Remove("created");
        node.Remove("build");
        var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer)) WriteCanonical(writer, node);
        return Convert.ToHexStringLower(SHA256.HashData(buffer.ToArray()))[..Length];
    }

    private static void WriteCanonical(Utf8JsonWriter writer, JsonNode? node)
    {
        switch (node)
        {
            case JsonObject obj:
                writer.WriteStartObject();
                foreach (var (key, value) in obj.OrderBy(kv => kv.Key, StringComparer.Ordinal))
                {
                    writer.WritePropertyName(key);
                    WriteCanonical(writer, value);
                }
                writer.WriteEndObject();
                break;
            case JsonArray array:
                writer.WriteStartArray();
                foreach (var item in array) WriteCanonical(writer, item);
                writer.WriteEndArray();
                break;
            case null:
                writer.WriteNullValue();
                break;
            default:
                node.WriteTo(writer);
                break;
        }
    }

    public static bool Matches(BentoManifest manifest) => Compute(manifest) == manifest.Version;
}
