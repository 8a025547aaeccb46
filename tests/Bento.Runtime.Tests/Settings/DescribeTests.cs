using Bento.Runtime.Settings;
using static Bento.Runtime.Tests.Settings.SettingsFixture;

namespace Bento.Runtime.Tests.Settings;

/// <summary>The one start-up line: every effective setting with its source, never the API key.</summary>
public sealed class DescribeTests
{
    [Fact]
    public void TheExampleFromTheBrief()
    {
        var settings = Resolve(Manifest(maxModelLen: 512, maxNumSeqs: 8, dtype: "float32"), Env(("BENTO_ENFORCE_EAGER", "true")));
        Assert.Equal(
            "settings: enforce_eager=true (env BENTO_ENFORCE_EAGER) max_model_len=512 (bento) max_num_seqs=8 (bento) dtype=float32 (bento) " +
            "gpu_memory_utilization=0.9 (bento) host=0.0.0.0 (default) port=3000 (bento) api_key=unset (default) shutdown_timeout=25 (default) max_request_bytes=8388608 (default) kv_cache_memory=auto (default) tool_call_parser=auto (default)",
            settings.Describe());
    }

    [Fact]
    public void EverythingFromDefaults()
    {
        Assert.Equal(
            "settings: enforce_eager=false (default) max_model_len=auto (default) max_num_seqs=16 (default) dtype=auto (default) " +
            "gpu_memory_utilization=0.9 (default) host=0.0.0.0 (default) port=3000 (default) api_key=unset (default) shutdown_timeout=25 (default) max_request_bytes=8388608 (default) kv_cache_memory=auto (default) tool_call_parser=auto (default)",
            Resolve().Describe());
    }

    [Fact]
    public void EnvironmentSourcesNameTheVariable()
    {
        var settings = Resolve(Manifest(), Env(
            ("BENTO_ENFORCE_EAGER", "off"), ("BENTO_MAX_MODEL_LEN", "300"), ("BENTO_MAX_NUM_SEQS", "3"), ("BENTO_DTYPE", "half"),
            ("BENTO_GPU_MEMORY_UTILIZATION", "0.25"), ("BENTO_HOST", "127.0.0.1"), ("BENTO_PORT", "8000"), ("BENTO_API_KEY", "s3cret"), ("BENTO_SHUTDOWN_TIMEOUT", "5")));
        Assert.Equal(
            "settings: enforce_eager=false (env BENTO_ENFORCE_EAGER) max_model_len=300 (env BENTO_MAX_MODEL_LEN) " +
            "max_num_seqs=3 (env BENTO_MAX_NUM_SEQS) dtype=float16 (env BENTO_DTYPE) " +
            "gpu_memory_utilization=0.25 (env BENTO_GPU_MEMORY_UTILIZATION) host=127.0.0.1 (env BENTO_HOST) port=8000 (env BENTO_PORT) " +
            "api_key=set (env BENTO_API_KEY) shutdown_timeout=5 (env BENTO_SHUTDOWN_TIMEOUT) max_request_bytes=8388608 (default) kv_cache_memory=auto (default) tool_call_parser=auto (default)",
            settings.Describe());
    }

    [Fact]
    public void FlagSourcesNameTheFlag()
    {
        var settings = Resolve(Manifest(), NoEnv, CliOverrides.None.With(SettingName.EnforceEager, EagerMode.True).With(SettingName.MaxModelLen, 100).With(SettingName.MaxNumSeqs, 2)
            .With(SettingName.Dtype, "bf16").With(SettingName.GpuMemoryUtilization, 0.8).With(SettingName.Port, 9000).With(SettingName.Host, "::")
            .With(SettingName.ApiKey, "k").With(SettingName.ShutdownTimeout, 0));
        Assert.Equal(
            "settings: enforce_eager=true (cli --enforce-eager) max_model_len=100 (cli --max-model-len) max_num_seqs=2 (cli --max-num-seqs) " +
            "dtype=bfloat16 (cli --dtype) gpu_memory_utilization=0.8 (cli --gpu-memory-utilization) host=:: (cli --host) " +
            "port=9000 (cli --port) api_key=set (cli --api-key) shutdown_timeout=0 (cli --shutdown-timeout) max_request_bytes=8388608 (default) kv_cache_memory=auto (default) tool_call_parser=auto (default)",
            settings.Describe());
    }

    [Fact]
    public void ALockedEnforceEagerSaysSo()
    {
        var settings = Resolve(Manifest(enforceEager: true, overridable: false), Env(("BENTO_ENFORCE_EAGER", "true")));
        Assert.StartsWith("settings: enforce_eager=true (bento, locked) max_model_len=512 (bento) ", settings.Describe());
    }

    [Fact]
    public void IsOneLineAndIsWhatToStringGives()
    {
        var settings = Resolve(Manifest());
        Assert.DoesNotContain('\n', settings.Describe());
        Assert.Equal(settings.Describe(), settings.ToString());
    }
}
