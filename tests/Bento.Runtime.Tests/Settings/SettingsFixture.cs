using Bento.Core.Manifest;
using Bento.Runtime.Settings;

namespace Bento.Runtime.Tests.Settings;

/// <summary>Builds manifests and environments for settings tests and runs the resolver on them.</summary>
internal static class SettingsFixture
{
    public static BentoManifest Manifest(
        bool enforceEager = false, bool overridable = true, string env = "BENTO_ENFORCE_EAGER",
        int maxModelLen = 512, int maxNumSeqs = 8, string dtype = "float32", double gpuMemoryUtilization = 0.9,
        int port = 3000, int maxPositionEmbeddings = 0, EagerMode? eagerMode = null) => new()
    {
        Name = "x",
        Version = "0123456789abcdef",
        Model = new ManifestModel { MaxPositionEmbeddings = maxPositionEmbeddings },
        Runtime = new ManifestRuntime
        {
            EnforceEager = new ManifestEnforceEager { Value = eagerMode ?? EagerModes.FromBool(enforceEager), Overridable = overridable, Env = env },
            MaxModelLen = maxModelLen,
            MaxNumSeqs = maxNumSeqs,
            Dtype = dtype,
            GpuMemoryUtilization = gpuMemoryUtilization,
            Port = port,
        },
    };

    public static IReadOnlyDictionary<string, string> Env(params (string Name, string Value)[] variables) =>
        variables.ToDictionary(v => v.Name, v => v.Value, StringComparer.Ordinal);

    public static readonly IReadOnlyDictionary<string, string> NoEnv = Env();

    public static EngineSettings Resolve(BentoManifest? manifest = null, IReadOnlyDictionary<string, string>? env = null, CliOverrides? cli = null) =>
        SettingsResolver.Resolve(manifest, env ?? NoEnv, cli ?? CliOverrides.None);

    public static string Fails(BentoManifest? manifest = null, IReadOnlyDictionary<string, string>? env = null, CliOverrides? cli = null) =>
        Assert.Throws<SettingsException>(() => Resolve(manifest, env, cli)).Message;
}
