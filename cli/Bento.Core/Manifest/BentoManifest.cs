using System.Text.Json.Serialization;

namespace Bento.Core.Manifest;

/// <summary>
/// The bento manifest (<c>bento.yaml</c>): the single, versioned schema that the store, the archive format, the runtime
/// and containerize all read. Field names are snake_case in YAML and JSON alike (see <see cref="ManifestSerializer"/>).
/// Bump <see cref="CurrentSchema"/> on any incompatible change and keep readers for older ones.
/// </summary>
public sealed class BentoManifest
{
    public const int CurrentSchema = 1;
    public const string FileName = "bento.yaml";
    public const string ModelDirectory = "model";
    public const string SourceDirectory = "src";

    public int Schema { get; set; } = CurrentSchema;
    public string Name { get; set; } = "";
    /// <summary>Derived from everything below except <see cref="Created"/> and <see cref="Build"/>; see <see cref="ManifestVersion"/>.</summary>
    public string Version { get; set; } = "";
    public DateTimeOffset Created { get; set; }
    public string? Description { get; set; }
    public SortedDictionary<string, string> Labels { get; set; } = new(StringComparer.Ordinal);
    public List<ManifestEnv> Envs { get; set; } = [];
    public ManifestModel Model { get; set; } = new();
    public ManifestRuntime Runtime { get; set; } = new();
    public ManifestDocker Docker { get; set; } = new();
    /// <summary>Files taken from the build directory by include/exclude, stored under <c>src/</c>.</summary>
    public List<ManifestFile> Files { get; set; } = [];
    public ManifestBuild Build { get; set; } = new();

    [JsonIgnore]
    public string Tag => $"{Name}:{Version}";

    /// <summary>Every file of the bento with its path inside the bento directory.</summary>
    public IEnumerable<(string BentoPath, ManifestFile File)> AllFiles() =>
        Model.Files.Select(f => ($"{ModelDirectory}/{f.Path}", f))
            .Concat(Files.Select(f => ($"{SourceDirectory}/{f.Path}", f)));

    [JsonIgnore]
    public long TotalSize => Model.Files.Sum(f => f.Size) + Files.Sum(f => f.Size);
}

public sealed class ManifestEnv
{
    public string Name { get; set; } = "";
    public string Value { get; set; } = "";
}

public sealed class ManifestFile
{
    public string Path { get; set; } = "";
    public long Size { get; set; }
    public string Sha256 { get; set; } = "";
}

public sealed class ManifestModel
{
    public string Architecture { get; set; } = "";
    /// <summary>Where the model lives inside the bento directory.</summary>
    public string Path { get; set; } = BentoManifest.ModelDirectory;
    public string? TorchDtype { get; set; }
    public long Parameters { get; set; }
    public int MaxPositionEmbeddings { get; set; }

    /// <summary>The int8 weight quantization of the model's files; absent (not null in the version hash) for float weights.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public ManifestQuantization? Quantization { get; set; }

    public List<ManifestFile> Files { get; set; } = [];
}

/// <summary>
/// How the weights are quantized: <see cref="Scheme"/> is the bentofile's <c>quantize</c> when the build quantized
/// them (null when the checkpoint came quantized), the rest what config.json's quantization_config says.
/// </summary>
public sealed class ManifestQuantization
{
    public string? Scheme { get; set; }
    public string Method { get; set; } = "";
    public string Format { get; set; } = "";
    public int Bits { get; set; }
    public string Strategy { get; set; } = "";
    public int? GroupSize { get; set; }

    /// <summary>"bento build" or "checkpoint".</summary>
    public string QuantizedBy { get; set; } = "";
}

public sealed class ManifestRuntime
{
    public ManifestEnforceEager EnforceEager { get; set; } = new();
    public int MaxModelLen { get; set; }
    public int MaxNumSeqs { get; set; }
    public string Dtype { get; set; } = Serving.EngineDefaults.Dtype;
    public double GpuMemoryUtilization { get; set; } = Serving.EngineDefaults.GpuMemoryUtilization;
    public int Port { get; set; } = Serving.EngineDefaults.Port;
    /// <summary>Null: the runtime reads the format from the chat template. Left out of the manifest when null, so
    /// bentos built before the field existed keep their versions.</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public string? ToolCallParser { get; set; }
}

public sealed class ManifestEnforceEager
{
    /// <summary>true, false or "auto" in bento.yaml (see <see cref="Serving.EagerModeJsonConverter"/>).</summary>
    public Serving.EagerMode Value { get; set; }
    public bool Overridable { get; set; } = true;
    public string Env { get; set; } = Spec.EnforceEagerSpec.DefaultEnv;
}

public sealed class ManifestDocker
{
    public string? BaseImage { get; set; }
    public SortedDictionary<string, string> Labels { get; set; } = new(StringComparer.Ordinal);
}

/// <summary>Which tool wrote the bento; informational, not part of the version.</summary>
public sealed class ManifestBuild
{
    public string Tool { get; set; } = "";
}
