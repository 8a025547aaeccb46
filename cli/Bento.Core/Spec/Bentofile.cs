namespace Bento.Core.Spec;

/// <summary>A validated <c>bentofile.yaml</c>: what the user asked to build. Paths are absolute.</summary>
public sealed record Bentofile(
    string FilePath,
    string Name,
    string? Description,
    IReadOnlyDictionary<string, string> Labels,
    IReadOnlyList<string> Include,
    IReadOnlyList<string> Exclude,
    IReadOnlyList<EnvVar> Envs,
    string ModelDirectory,
    RuntimeSpec Runtime,
    DockerSpec Docker)
{
    public string Directory => Path.GetDirectoryName(FilePath)!;
}

public sealed record EnvVar(string Name, string Value);

/// <summary>
/// Engine settings with vLLM's meanings. Nulls mean "the engine decides at start-up" (e.g. max_model_len from the
/// model's config.json); the builder fills what it can know so the manifest shows the effective defaults.
/// </summary>
public sealed record RuntimeSpec(
    EnforceEagerSpec EnforceEager,
    int? MaxModelLen,
    int? MaxNumSeqs,
    string Dtype,
    double GpuMemoryUtilization,
    int? Port,
    string? ToolCallParser = null);

/// <summary>
/// enforce_eager: the builder's default, whether a deployment may override it, and through which variable.
/// </summary>
public sealed record EnforceEagerSpec(bool Value, bool Overridable, string Env)
{
    public const string DefaultEnv = "BENTO_ENFORCE_EAGER";
    public static readonly EnforceEagerSpec Default = new(false, true, DefaultEnv);
}

public sealed record DockerSpec(string? BaseImage, IReadOnlyDictionary<string, string> Labels);
