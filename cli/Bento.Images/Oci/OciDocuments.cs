using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using Bento.Core;

namespace Bento.Images.Oci;

/// <summary>
/// The JSON documents of the OCI image spec (manifest, index, config) as plain classes, and the one canonical way to
/// serialise them: compact, properties in declaration order, maps sorted ordinally, nulls left out, no needless
/// escaping. Same document => same bytes => same digest.
/// </summary>
public static class OciJson
{
    private static readonly JsonSerializerOptions Write = new()
    {
        WriteIndented = false,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    private static readonly JsonSerializerOptions Read = new()
    {
        PropertyNameCaseInsensitive = true,
        AllowTrailingCommas = false,
        NumberHandling = JsonNumberHandling.Strict,
    };

    public static byte[] Serialize<T>(T document) => JsonSerializer.SerializeToUtf8Bytes(document, Write);

    /// <summary>Parses <paramref name="bytes"/>; malformed JSON is a <see cref="BentoException"/> naming <paramref name="what"/>.</summary>
    public static T Parse<T>(ReadOnlySpan<byte> bytes, string what) where T : class
    {
        try
        {
            return JsonSerializer.Deserialize<T>(bytes, Read) ?? throw new BentoException($"{what} is empty (JSON null)");
        }
        catch (JsonException e)
        {
            throw new BentoException($"{what} is not valid JSON: {e.Message}");
        }
    }

    public static SortedDictionary<string, T> Sorted<T>(IEnumerable<KeyValuePair<string, T>>? items)
    {
        var sorted = new SortedDictionary<string, T>(StringComparer.Ordinal);
        if (items is not null) foreach (var (k, v) in items) sorted[k] = v;
        return sorted;
    }
}

public sealed class DescriptorDocument
{
    [JsonPropertyName("mediaType")] public string MediaType { get; set; } = "";
    [JsonPropertyName("digest")] public string Digest { get; set; } = "";
    [JsonPropertyName("size")] public long Size { get; set; }
    [JsonPropertyName("artifactType")] public string? ArtifactType { get; set; }
    [JsonPropertyName("platform")] public PlatformDocument? Platform { get; set; }
    [JsonPropertyName("annotations")] public SortedDictionary<string, string>? Annotations { get; set; }

    public static DescriptorDocument From(Descriptor d) => new()
    {
        MediaType = d.MediaType,
        Digest = d.Digest,
        Size = d.Size,
        ArtifactType = d.ArtifactType,
        Platform = d.Platform is null ? null : new PlatformDocument { Architecture = d.Platform.Architecture, Os = d.Platform.Os, Variant = d.Platform.Variant },
        Annotations = d.Annotations is { Count: > 0 } a ? OciJson.Sorted(a) : null,
    };

    public Descriptor ToDescriptor() => new(MediaType, Digest, Size)
    {
        ArtifactType = ArtifactType,
        Annotations = Annotations is { Count: > 0 } ? OciJson.Sorted(Annotations) : null,
        Platform = Platform is null ? null : new Platform(Platform.Os, Platform.Architecture, Platform.Variant),
    };
}

public sealed class PlatformDocument
{
    [JsonPropertyName("architecture")] public string Architecture { get; set; } = "";
    [JsonPropertyName("os")] public string Os { get; set; } = "";
    [JsonPropertyName("variant")] public string? Variant { get; set; }
}

/// <summary>An image manifest (OCI, or Docker v2 schema 2 when read from a base image: the shapes are the same).</summary>
public sealed class ManifestDocument
{
    [JsonPropertyName("schemaVersion")] public int SchemaVersion { get; set; } = 2;
    [JsonPropertyName("mediaType")] public string? MediaType { get; set; } = MediaTypes.OciManifest;
    /// <summary>OCI 1.1: set on artifacts (a model, an SBOM); images leave it out.</summary>
    [JsonPropertyName("artifactType")] public string? ArtifactType { get; set; }
    [JsonPropertyName("config")] public DescriptorDocument Config { get; set; } = new();
    [JsonPropertyName("layers")] public List<DescriptorDocument> Layers { get; set; } = [];
    /// <summary>OCI 1.1: the manifest this one refers to (an SBOM's image); found through the referrers API.</summary>
    [JsonPropertyName("subject")] public DescriptorDocument? Subject { get; set; }
    [JsonPropertyName("annotations")] public SortedDictionary<string, string>? Annotations { get; set; }
}

/// <summary>An image index (or a Docker manifest list), and the <c>index.json</c> of an OCI layout.</summary>
public sealed class IndexDocument
{
    [JsonPropertyName("schemaVersion")] public int SchemaVersion { get; set; } = 2;
    [JsonPropertyName("mediaType")] public string? MediaType { get; set; } = MediaTypes.OciIndex;
    [JsonPropertyName("manifests")] public List<DescriptorDocument> Manifests { get; set; } = [];
    [JsonPropertyName("annotations")] public SortedDictionary<string, string>? Annotations { get; set; }
}

/// <summary>
/// The image configuration (OCI image-spec config.md; Docker's fields such as <c>Healthcheck</c> included, which Docker
/// honours and other runtimes ignore).
/// </summary>
public sealed class ImageConfigDocument
{
    [JsonPropertyName("created")] public string? Created { get; set; }
    [JsonPropertyName("author")] public string? Author { get; set; }
    [JsonPropertyName("architecture")] public string Architecture { get; set; } = "";
    [JsonPropertyName("os")] public string Os { get; set; } = "";
    [JsonPropertyName("variant")] public string? Variant { get; set; }
    [JsonPropertyName("config")] public ContainerConfigDocument? Config { get; set; }
    [JsonPropertyName("rootfs")] public RootFsDocument RootFs { get; set; } = new();
    [JsonPropertyName("history")] public List<HistoryDocument>? History { get; set; }
}

public sealed class ContainerConfigDocument
{
    [JsonPropertyName("User")] public string? User { get; set; }
    [JsonPropertyName("ExposedPorts")] public SortedDictionary<string, EmptyObject>? ExposedPorts { get; set; }
    [JsonPropertyName("Env")] public List<string>? Env { get; set; }
    [JsonPropertyName("Entrypoint")] public List<string>? Entrypoint { get; set; }
    [JsonPropertyName("Cmd")] public List<string>? Cmd { get; set; }
    [JsonPropertyName("Volumes")] public SortedDictionary<string, EmptyObject>? Volumes { get; set; }
    [JsonPropertyName("WorkingDir")] public string? WorkingDir { get; set; }
    [JsonPropertyName("Labels")] public SortedDictionary<string, string>? Labels { get; set; }
    [JsonPropertyName("StopSignal")] public string? StopSignal { get; set; }
    [JsonPropertyName("Healthcheck")] public HealthcheckDocument? Healthcheck { get; set; }
}

/// <summary>Docker's healthcheck: durations in nanoseconds.</summary>
public sealed class HealthcheckDocument
{
    [JsonPropertyName("Test")] public List<string> Test { get; set; } = [];
    [JsonPropertyName("Interval")] public long? Interval { get; set; }
    [JsonPropertyName("Timeout")] public long? Timeout { get; set; }
    [JsonPropertyName("StartPeriod")] public long? StartPeriod { get; set; }
    [JsonPropertyName("Retries")] public int? Retries { get; set; }
}

public sealed class RootFsDocument
{
    [JsonPropertyName("type")] public string Type { get; set; } = "layers";
    [JsonPropertyName("diff_ids")] public List<string> DiffIds { get; set; } = [];
}

public sealed class HistoryDocument
{
    [JsonPropertyName("created")] public string? Created { get; set; }
    [JsonPropertyName("author")] public string? Author { get; set; }
    [JsonPropertyName("created_by")] public string? CreatedBy { get; set; }
    [JsonPropertyName("comment")] public string? Comment { get; set; }
    [JsonPropertyName("empty_layer")] public bool? EmptyLayer { get; set; }
}

/// <summary>The <c>{}</c> values of ExposedPorts and Volumes.</summary>
public sealed class EmptyObject
{
    public static readonly EmptyObject Instance = new();
}
