using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Bento.Core.Manifest;
using Bento.Core.Store;
using Bento.Images.Build;
using Bento.Images.Oci;

namespace Bento.Images.Artifact;

/// <summary>
/// A bento as a CNCF ModelPack artifact (an OCI 1.1 image manifest with <c>artifactType</c>
/// <see cref="ModelPack.ArtifactType"/>): one raw layer per file of the bento — weights
/// (<see cref="ModelPack.WeightRaw"/>), the model's config and tokenizer files (<see cref="ModelPack.WeightConfigRaw"/>),
/// src/ documents and code — each annotated with its path in the bento (<see cref="ModelPack.FilepathAnnotation"/>, and
/// the OCI title, which is what ORAS and CRI-O name the file by), then <c>bento.yaml</c> itself. A raw layer is the
/// file's bytes, so its digest is the sha256 the bento manifest already lists: nothing is hashed to build it, the
/// store's blobs are what is pushed, and a weight file shared by several bentos is one blob in the registry. Mounted as
/// a Kubernetes image volume (CRI-O writes each layer under its path) the artifact is the bento's directory.
/// Nothing depends on the clock or the machine: the same bento gives the same digest.
/// </summary>
public static class BentoArtifact
{
    /// <summary>The suffix of the tag the artifact gets next to a slim image's (<c>REPO:TAG-model</c>).</summary>
    public const string TagSuffix = "-model";

    /// <summary>The artifact as an <see cref="Image"/> record (manifest, config and layers), which every sink and push takes.</summary>
    public static Image Create(StoredBento bento, BentoStore store)
    {
        var manifest = bento.Manifest;
        var created = ImageAssembler.Rfc3339(ImageAssembler.ResolveCreated(manifest));
        var layers = new List<(Layer Layer, Descriptor Descriptor)>();
        foreach (var (bentoPath, file) in Ordered(manifest))
        {
            var descriptor = new Descriptor(MediaTypeOf(bentoPath, file), OciDigest.FromHex(file.Sha256), file.Size)
            {
                Annotations = FileAnnotations(bentoPath, file.Size, untested: bentoPath.StartsWith(BentoManifest.SourceDirectory + "/", StringComparison.Ordinal)),
            };
            layers.Add((new Layer(new FileBlob(descriptor, store.BlobPath(file.Sha256)), descriptor.Digest), descriptor));
        }
        var yaml = File.ReadAllBytes(bento.FilePath(BentoManifest.FileName));
        var yamlBlob = new MemoryBlob(ModelPack.BentoManifestMediaType, yaml);
        var yamlDescriptor = yamlBlob.Descriptor with { Annotations = FileAnnotations(BentoManifest.FileName, yaml.Length, untested: false) };
        layers.Add((new Layer(yamlBlob, yamlDescriptor.Digest), yamlDescriptor));

        var config = new ModelConfigDocument
        {
            Descriptor = new ModelDescriptorDocument
            {
                CreatedAt = created,
                Name = manifest.Name,
                Version = manifest.Version,
                Family = Family(manifest.Model.Architecture),
                Description = string.IsNullOrWhiteSpace(manifest.Description) ? null : manifest.Description.Trim(),
                SourceUrl = manifest.Labels.GetValueOrDefault(OciAnnotations.Source),
                Revision = manifest.Labels.GetValueOrDefault(OciAnnotations.Revision),
            },
            Config = new ModelTechnicalDocument
            {
                Architecture = "transformer",
                Format = "safetensors",
                ParamSize = ParamSize(manifest.Model.Parameters),
                Precision = Precision(manifest),
                Capabilities = new ModelCapabilitiesDocument { InputTypes = ["text"], OutputTypes = ["text"] },
            },
            ModelFs = new ModelFsDocument { DiffIds = layers.Select(l => l.Descriptor.Digest).ToList() },
        };
        var configBytes = JsonSerializer.SerializeToUtf8Bytes(config, ConfigJson);
        var configDescriptor = new Descriptor(ModelPack.ConfigMediaType, OciDigest.Of(configBytes), configBytes.Length);

        var document = new ManifestDocument
        {
            MediaType = MediaTypes.OciManifest,
            ArtifactType = ModelPack.ArtifactType,
            Config = DescriptorDocument.From(configDescriptor),
            Layers = layers.Select(l => DescriptorDocument.From(l.Descriptor)).ToList(),
            Annotations = OciJson.Sorted(new Dictionary<string, string>
            {
                [OciAnnotations.Created] = created,
                [OciAnnotations.Title] = manifest.Name,
                [OciAnnotations.Version] = manifest.Version,
                [Bento.Core.Serving.ImageContract.Labels.Bento] = manifest.Tag,
            }),
        };
        var bytes = OciJson.Serialize(document);
        var manifestDescriptor = new Descriptor(MediaTypes.OciManifest, OciDigest.Of(bytes), bytes.Length) { ArtifactType = ModelPack.ArtifactType };
        // A layer keeps its annotations: a sink or push reads the descriptor from the blob.
        return new Image(manifestDescriptor, bytes, configDescriptor, configBytes,
            layers.Select(l => new Layer(new AnnotatedBlob(l.Layer.Blob, l.Descriptor), l.Layer.DiffId)).ToList());
    }

    /// <summary>Weights first (the big, shared blobs), then the model's other files, src/, and bento.yaml last.</summary>
    private static IEnumerable<(string BentoPath, ManifestFile File)> Ordered(BentoManifest manifest) =>
        manifest.AllFiles().OrderBy(f => Rank(f.BentoPath, f.File)).ThenBy(f => f.BentoPath, StringComparer.Ordinal);

    private static int Rank(string bentoPath, ManifestFile file) => MediaTypeOf(bentoPath, file) switch
    {
        ModelPack.WeightRaw => 0,
        ModelPack.WeightConfigRaw => 1,
        ModelPack.DocRaw => 2,
        _ => 3,
    };

    /// <summary>Weights as containerize lays them out (<see cref="BentoFiles.IsWeight"/>); src/ documents by name, other src/ files as code.</summary>
    public static string MediaTypeOf(string bentoPath, ManifestFile file)
    {
        if (bentoPath.StartsWith(BentoManifest.ModelDirectory + "/", StringComparison.Ordinal))
            return BentoFiles.IsWeight(file) ? ModelPack.WeightRaw : ModelPack.WeightConfigRaw;
        var name = Path.GetFileName(bentoPath).ToUpperInvariant();
        var isDoc = name.StartsWith("README", StringComparison.Ordinal) || name.StartsWith("LICENSE", StringComparison.Ordinal)
                    || name.StartsWith("LICENCE", StringComparison.Ordinal) || name.StartsWith("NOTICE", StringComparison.Ordinal)
                    || name.StartsWith("COPYING", StringComparison.Ordinal) || name.EndsWith(".MD", StringComparison.Ordinal)
                    || name.EndsWith(".RST", StringComparison.Ordinal) || name.EndsWith(".TXT", StringComparison.Ordinal);
        return isDoc ? ModelPack.DocRaw : ModelPack.CodeRaw;
    }

    private static SortedDictionary<string, string> FileAnnotations(string bentoPath, long size, bool untested)
    {
        var metadata = JsonSerializer.Serialize(new FileMetadataDocument { Name = Path.GetFileName(bentoPath), Size = size }, ConfigJson);
        var a = new SortedDictionary<string, string>(StringComparer.Ordinal)
        {
            [ModelPack.FilepathAnnotation] = bentoPath,
            [ModelPack.FileMetadataAnnotation] = metadata,
            [OciAnnotations.Title] = bentoPath,
        };
        if (untested) a[ModelPack.MediaTypeUntestedAnnotation] = "true";
        return a;
    }

    /// <summary>"llama" for LlamaForCausalLM, "qwen2" for Qwen2ForCausalLM: the family ModelPack's descriptor names.</summary>
    public static string? Family(string architecture)
    {
        var cut = architecture.IndexOf("For", StringComparison.Ordinal);
        return cut > 0 ? architecture[..cut].ToLowerInvariant() : null;
    }

    /// <summary>ModelPack's paramSize: a count with at most one decimal and a scale letter (101.5m, 7b, 1.2k).</summary>
    public static string? ParamSize(long parameters)
    {
        if (parameters <= 0) return null;
        foreach (var (scale, letter) in new[] { (1e15, "q"), (1e12, "t"), (1e9, "b"), (1e6, "m"), (1e3, "k") })
            if (parameters >= scale)
                return Math.Round(parameters / scale, 1).ToString("0.#", CultureInfo.InvariantCulture) + letter;
        return parameters.ToString(CultureInfo.InvariantCulture);
    }

    private static string? Precision(BentoManifest manifest)
    {
        var dtype = manifest.Runtime.Dtype is { Length: > 0 } d && d != "auto" ? d : manifest.Model.TorchDtype;
        if (string.IsNullOrEmpty(dtype)) return null;
        return Bento.Core.Model.ModelDtype.Find(dtype)?.Name ?? dtype;
    }

    private static readonly JsonSerializerOptions ConfigJson = new()
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    /// <summary>A blob whose descriptor carries the layer's annotations (the bytes are the inner blob's).</summary>
    private sealed class AnnotatedBlob(IBlob inner, Descriptor descriptor) : ISelfVerifyingBlob
    {
        public Descriptor Descriptor { get; } = descriptor;
        public Task<Stream> OpenReadAsync(CancellationToken ct) => BlobCopy.OpenVerifiedAsync(inner, ct);
    }
}

/// <summary>ModelPack's model config (<see cref="ModelPack.ConfigMediaType"/>; docs/config.md of the spec).</summary>
public sealed class ModelConfigDocument
{
    [JsonPropertyName("descriptor")] public ModelDescriptorDocument Descriptor { get; set; } = new();
    [JsonPropertyName("config")] public ModelTechnicalDocument Config { get; set; } = new();
    [JsonPropertyName("modelfs")] public ModelFsDocument ModelFs { get; set; } = new();
}

public sealed class ModelDescriptorDocument
{
    [JsonPropertyName("createdAt")] public string? CreatedAt { get; set; }
    [JsonPropertyName("family")] public string? Family { get; set; }
    [JsonPropertyName("name")] public string? Name { get; set; }
    [JsonPropertyName("version")] public string? Version { get; set; }
    [JsonPropertyName("description")] public string? Description { get; set; }
    [JsonPropertyName("sourceURL")] public string? SourceUrl { get; set; }
    [JsonPropertyName("revision")] public string? Revision { get; set; }
}

public sealed class ModelTechnicalDocument
{
    [JsonPropertyName("architecture")] public string? Architecture { get; set; }
    [JsonPropertyName("format")] public string? Format { get; set; }
    [JsonPropertyName("paramSize")] public string? ParamSize { get; set; }
    [JsonPropertyName("precision")] public string? Precision { get; set; }
    [JsonPropertyName("capabilities")] public ModelCapabilitiesDocument? Capabilities { get; set; }
}

public sealed class ModelCapabilitiesDocument
{
    [JsonPropertyName("inputTypes")] public List<string>? InputTypes { get; set; }
    [JsonPropertyName("outputTypes")] public List<string>? OutputTypes { get; set; }
}

public sealed class ModelFsDocument
{
    [JsonPropertyName("type")] public string Type { get; set; } = "layers";
    [JsonPropertyName("diffIds")] public List<string> DiffIds { get; set; } = [];
}

/// <summary>The value of <see cref="ModelPack.FileMetadataAnnotation"/>: fixed owner, mode and time (reproducible).</summary>
public sealed class FileMetadataDocument
{
    [JsonPropertyName("name")] public string Name { get; set; } = "";
    [JsonPropertyName("mode")] public int Mode { get; set; } = 420; // 0644
    [JsonPropertyName("uid")] public int Uid { get; set; }
    [JsonPropertyName("gid")] public int Gid { get; set; }
    [JsonPropertyName("size")] public long Size { get; set; }
    [JsonPropertyName("mtime")] public string ModTime { get; set; } = "1970-01-01T00:00:00Z";
    [JsonPropertyName("typeflag")] public int Typeflag { get; set; } = '0';
}
