using System.Text.Json.Nodes;
using Bento.Runtime.Settings;
using static Bento.Runtime.Tests.Settings.SettingsFixture;

namespace Bento.Runtime.Tests.Settings;

/// <summary>The settings block of /health: value, source and overriding variable per setting; no API key.</summary>
public sealed class HealthJsonTests
{
    [Fact]
    public void ShapeWithABentoAndAnEnvironmentOverride()
    {
        var json = Resolve(Manifest(), Env(("BENTO_ENFORCE_EAGER", "true"))).ToHealthJson();
        var expected = JsonNode.Parse("""
            {
              "enforce_eager": {"value": true, "source": "env", "env": "BENTO_ENFORCE_EAGER", "overridable": true},
              "max_model_len": {"value": 512, "source": "bento", "env": "BENTO_MAX_MODEL_LEN"},
              "max_num_seqs": {"value": 8, "source": "bento", "env": "BENTO_MAX_NUM_SEQS"},
              "dtype": {"value": "float32", "source": "bento", "env": "BENTO_DTYPE"},
              "gpu_memory_utilization": {"value": 0.9, "source": "bento", "env": "BENTO_GPU_MEMORY_UTILIZATION"},
              "host": {"value": "0.0.0.0", "source": "default", "env": "BENTO_HOST"},
              "port": {"value": 3000, "source": "bento", "env": "BENTO_PORT"},
              "api_key": {"set": false, "source": "default", "env": "BENTO_API_KEY"},
              "shutdown_timeout": {"value": 25, "source": "default", "env": "BENTO_SHUTDOWN_TIMEOUT"},
              "max_request_bytes": {"value": 8388608, "source": "default", "env": "BENTO_MAX_REQUEST_BYTES"},
              "kv_cache_memory": {"value": null, "source": "default", "env": "BENTO_KV_CACHE_MEMORY"},
              "tool_call_parser": {"value": "auto", "source": "default", "env": "BENTO_TOOL_CALL_PARSER"}
            }
            """);
        Assert.True(JsonNode.DeepEquals(expected, json), json.ToJsonString());
    }

    [Fact]
    public void FlagsAreNamedAndTheApiKeyIsOnlySaidToBeSet()
    {
        var json = Resolve(Manifest(enforceEager: true, overridable: false, env: "MY_EAGER"), NoEnv,
            CliOverrides.None.With(SettingName.Port, 8080).With(SettingName.ApiKey, "hunter2").With(SettingName.EnforceEager, EagerMode.True)).ToHealthJson();
        Assert.True(JsonNode.DeepEquals(
            JsonNode.Parse("""{"value": true, "source": "bento", "env": "MY_EAGER", "overridable": false}"""), json["enforce_eager"]));
        Assert.True(JsonNode.DeepEquals(
            JsonNode.Parse("""{"value": 8080, "source": "cli", "env": "BENTO_PORT", "flag": "--port"}"""), json["port"]));
        Assert.True(JsonNode.DeepEquals(
            JsonNode.Parse("""{"set": true, "source": "cli", "env": "BENTO_API_KEY", "flag": "--api-key"}"""), json["api_key"]));
        Assert.DoesNotContain("hunter2", json.ToJsonString());
    }

    [Fact]
    public void MaxModelLenFromTheModelIsNull()
    {
        var json = Resolve().ToHealthJson();
        Assert.True(JsonNode.DeepEquals(
            JsonNode.Parse("""{"value": null, "source": "default", "env": "BENTO_MAX_MODEL_LEN"}"""), json["max_model_len"]));
    }

    [Fact]
    public void HasEverySettingOfTheTableInOrder()
    {
        var json = Resolve().ToHealthJson();
        Assert.Equal(
            ["enforce_eager", "max_model_len", "max_num_seqs", "dtype", "gpu_memory_utilization", "host", "port", "api_key", "shutdown_timeout", "max_request_bytes", "kv_cache_memory", "tool_call_parser"],
            json.Select(p => p.Key).ToArray());
    }

    [Fact]
    public void IsAFreshObjectEachTimeSoTheCallerMayEmbedIt()
    {
        var settings = Resolve();
        var health = new JsonObject { ["settings"] = settings.ToHealthJson() };
        Assert.NotNull(health["settings"]);
        Assert.NotSame(settings.ToHealthJson(), settings.ToHealthJson());
    }

    [Theory]
    [InlineData(SettingSource.Default, "\"default\"")]
    [InlineData(SettingSource.Bento, "\"bento\"")]
    [InlineData(SettingSource.Env, "\"env\"")]
    [InlineData(SettingSource.Cli, "\"cli\"")]
    public void SourcesSerialiseLowerCase(SettingSource source, string json)
    {
        Assert.Equal(json, System.Text.Json.JsonSerializer.Serialize(source));
        Assert.Equal(source, System.Text.Json.JsonSerializer.Deserialize<SettingSource>(json));
        Assert.Equal(json.Trim('"'), source.ToWireName());
    }
}
