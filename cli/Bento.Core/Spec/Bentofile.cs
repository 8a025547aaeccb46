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

    /// <summary><c>model.quantize</c>: the weight quantization the build applies; null keeps the weights as they are.</summary>
    public Model.QuantizationScheme? Quantize { get; init; }
}

public sealed record EnvVar(string Name, string Value);

/// <summary>
/// The bentofile's <c>runtime:</c> section: enforce_eager with its lock and variable, and the value of every other
/// setting it gives (keys of <see cref="Serving.SettingName.Bentofile"/>, values typed and checked by the setting's own
/// rule). A setting it does not give is absent; the builder then records the default in the manifest.
/// </summary>
public sealed record RuntimeSpec(EnforceEagerSpec EnforceEager, IReadOnlyDictionary<Serving.SettingName, object> Given)
{
    public static readonly RuntimeSpec Empty = new(EnforceEagerSpec.Default, new Dictionary<Serving.SettingName, object>());
}

/// <summary>
/// enforce_eager: the builder's default, whether a deployment may override it, and through which variable.
/// </summary>
public sealed record EnforceEagerSpec(Serving.EagerMode Value, bool Overridable, string Env)
{
    public static readonly string DefaultEnv = Serving.SettingName.EnforceEager.Env;
    public static readonly EnforceEagerSpec Default = new(Serving.EagerMode.False, true, DefaultEnv);
}

public sealed record DockerSpec(string? BaseImage, IReadOnlyDictionary<string, string> Labels);
