using Bento.Core.Manifest;
using Bento.Runtime.Settings;
using static Bento.Runtime.Tests.Settings.SettingsFixture;

namespace Bento.Runtime.Tests.Settings;

/// <summary>Settings read from a manifest as it is stored on disk (YAML), not only one built in code.</summary>
public sealed class ManifestSettingsTests
{
    /// <summary>A bento.yaml with the model part every valid bento has (see BentoRules) and the given runtime part.</summary>
    private static BentoManifest FromYaml(string runtime) => ManifestSerializer.FromYaml($"""
        schema: 1
        name: x
        version: 0123456789abcdef
        model:
          architecture: LlamaForCausalLM
          max_position_embeddings: 4096
          files:
          - {Weight("config.json")}
          - {Weight("tokenizer.json")}
          - {Weight("model.safetensors")}
        runtime:
        {runtime}
        """, "bento.yaml");

    private static string Weight(string path) => $"{{path: {path}, size: 1, sha256: {new string('a', 64)}}}";

    [Fact]
    public void ALockedBentoWithItsOwnVariable()
    {
        var manifest = FromYaml("""
              enforce_eager:
                value: true
                overridable: false
                env: MY_EAGER
              max_model_len: 512
              max_num_seqs: 8
              dtype: float32
              gpu_memory_utilization: 0.8
              port: 3001
            """);

        var settings = Resolve(manifest);
        Assert.Equal(
            "settings: enforce_eager=true (bento, locked) max_model_len=512 (bento) max_num_seqs=8 (bento) dtype=float32 (bento) " +
            "gpu_memory_utilization=0.8 (bento) host=0.0.0.0 (default) port=3001 (bento) api_key=unset (default) shutdown_timeout=25 (default) max_request_bytes=8388608 (default) kv_cache_memory=auto (default) tool_call_parser=auto (default)",
            settings.Describe());
        Assert.Equal("MY_EAGER", settings.EnforceEagerEnv);
        Assert.StartsWith("MY_EAGER=off conflicts with this bento: enforce_eager is locked to true",
            Fails(manifest, Env(("MY_EAGER", "off"))));
    }

    [Fact]
    public void AManifestThatOmitsFieldsFallsBackSensibly()
    {
        var settings = Resolve(FromYaml("  dtype: auto"));
        Assert.Equal(new Setting<EagerMode>(EagerMode.False, SettingSource.Bento), settings.EnforceEager);
        Assert.True(settings.EnforceEagerOverridable);
        Assert.Equal("BENTO_ENFORCE_EAGER", settings.EnforceEagerEnv);
        Assert.Equal(new Setting<int?>(null, SettingSource.Default), settings.MaxModelLen);
        Assert.Equal(new Setting<int>(16, SettingSource.Default), settings.MaxNumSeqs);
        Assert.Equal(new Setting<string>("auto", SettingSource.Bento), settings.Dtype);
    }
}
