using Bento.Runtime.Settings;

namespace Bento.Runtime.Tests.Settings;

/// <summary>Reading the setting flags off the runtime's command line.</summary>
public sealed class CliOverridesParserTests
{
    private static CliOverrides Parse(params string[] args) => CliOverridesParser.Parse(args).Overrides;

    /// <summary>The message for a command line that the parser, or the resolver judging its values, refuses.</summary>
    private static string Fails(params string[] args) =>
        Assert.Throws<SettingsException>(() => SettingsResolver.Resolve(null, SettingsFixture.NoEnv, CliOverridesParser.Parse(args).Overrides)).Message;

    [Fact]
    public void NoArgumentsGiveNoOverrides()
    {
        var (overrides, remaining) = CliOverridesParser.Parse([]);
        Assert.All(SettingName.All, s => Assert.Null(overrides[s]));
        Assert.Empty(remaining);
    }

    [Fact]
    public void EveryFlagWithSeparateValues()
    {
        var overrides = Parse("--enforce-eager", "--max-model-len", "512", "--max-num-seqs", "8", "--dtype", "half",
            "--gpu-memory-utilization", "0.5", "--port", "8080", "--host", "::", "--api-key", "k");
        var settings = SettingsResolver.Resolve(null, SettingsFixture.NoEnv, overrides);
        Assert.Equal((EagerMode.True, 512, 8, "float16", 0.5, 8080, "::", "k"), (settings.EnforceEager.Value, settings.MaxModelLen.Value, settings.MaxNumSeqs.Value,
            settings.Dtype.Value, settings.GpuMemoryUtilization.Value, settings.Port.Value, settings.Host.Value, settings.ApiKey.Value));
    }

    [Fact]
    public void EveryFlagWithInlineValues()
    {
        var overrides = Parse("--enforce-eager=off", "--max-model-len=512", "--max-num-seqs=8", "--dtype=bf16",
            "--gpu-memory-utilization=0.5", "--port=8080", "--host=127.0.0.1", "--api-key=a=b");
        var settings = SettingsResolver.Resolve(null, SettingsFixture.NoEnv, overrides);
        Assert.Equal((EagerMode.False, 512, 8, "bfloat16", 0.5, 8080, "127.0.0.1", "a=b"), (settings.EnforceEager.Value, settings.MaxModelLen.Value, settings.MaxNumSeqs.Value,
            settings.Dtype.Value, settings.GpuMemoryUtilization.Value, settings.Port.Value, settings.Host.Value, settings.ApiKey.Value));
    }

    [Theory]
    [InlineData("--enforce-eager=auto")]
    [InlineData("--enforce-eager=AUTO")]
    public void EnforceEagerTakesAuto(string flag) =>
        Assert.Equal(EagerMode.Auto, SettingsResolver.Resolve(null, SettingsFixture.NoEnv, Parse(flag)).EnforceEager.Value);

    [Fact]
    public void KeyFileAndShutdownTimeout()
    {
        var overrides = Parse("--api-key-file", "/run/secrets/k", "--shutdown-timeout=0");
        Assert.Equal("/run/secrets/k", overrides[SettingName.ApiKeyFile]);
        Assert.Equal("0", overrides[SettingName.ShutdownTimeout]);
    }

    [Fact]
    public void NoEnforceEager() => Assert.Equal(EagerMode.False, Parse("--no-enforce-eager")[SettingName.EnforceEager]);

    [Fact]
    public void TheLastOfRepeatedFlagsWins()
    {
        Assert.Equal(EagerMode.False, Parse("--enforce-eager", "--no-enforce-eager")[SettingName.EnforceEager]);
        Assert.Equal("true", Parse("--no-enforce-eager", "--enforce-eager")[SettingName.EnforceEager]);
        Assert.Equal("2", Parse("--port", "1", "--port", "2")[SettingName.Port]);
    }

    [Fact]
    public void OtherArgumentsComeBackInOrder()
    {
        var (overrides, remaining) = CliOverridesParser.Parse(["/bentos/x", "--port", "1", "--verbose", "--model=m", "--", "--port", "2"]);
        Assert.Equal("1", overrides[SettingName.Port]);
        Assert.Equal(["/bentos/x", "--verbose", "--model=m", "--", "--port", "2"], remaining);
    }

    [Fact]
    public void ANegativeNumberIsAValueNotAFlag() => Assert.Equal("-1", Parse("--port", "-1")[SettingName.Port]);

    [Theory]
    [InlineData("--port")]
    [InlineData("--port", "--host", "x")]
    public void AMissingValueIsNamed(params string[] args) =>
        Assert.Equal("--port needs a value, e.g. --port 3000", Fails(args));

    [Theory]
    [InlineData("--max-model-len", "--max-model-len needs a value, e.g. --max-model-len 4096")]
    [InlineData("--max-num-seqs", "--max-num-seqs needs a value, e.g. --max-num-seqs 16")]
    [InlineData("--dtype", "--dtype needs a value, e.g. --dtype bfloat16")]
    [InlineData("--gpu-memory-utilization", "--gpu-memory-utilization needs a value, e.g. --gpu-memory-utilization 0.9")]
    [InlineData("--host", "--host needs a value, e.g. --host 0.0.0.0")]
    [InlineData("--api-key", "--api-key needs a value, e.g. --api-key <key>")]
    public void EveryValueFlagNamesItsMissingValue(string flag, string message) => Assert.Equal(message, Fails(flag));

    [Fact]
    public void Typos()
    {
        Assert.Equal("--port='http' is not an integer; use a whole number from 1 to 65535", Fails("--port", "http"));
        Assert.Equal("--port='' is not an integer; use a whole number from 1 to 65535", Fails("--port="));
        Assert.Equal("--max-num-seqs='many' is not an integer; use a whole number from 1 to 65536", Fails("--max-num-seqs=many"));
        Assert.Equal("--max-model-len='4k' is not an integer; use a whole number from 1 to 16777216", Fails("--max-model-len", "4k"));
        Assert.Equal("--gpu-memory-utilization='0,9' is not a number; use a number greater than 0 and at most 1, e.g. 0.9",
            Fails("--gpu-memory-utilization", "0,9"));
        Assert.Equal("--enforce-eager='maybe' is not true, false or auto; use true/false, 1/0, yes/no, on/off or auto", Fails("--enforce-eager=maybe"));
        Assert.Equal("--no-enforce-eager takes no value; use --enforce-eager=true instead", Fails("--no-enforce-eager=true"));
    }

    [Fact]
    public void RangesAndDtypesAreLeftToTheResolver()
    {
        Assert.Equal("0", Parse("--port", "0")[SettingName.Port]);
        Assert.Equal("fp8", Parse("--dtype", "fp8")[SettingName.Dtype]);
        Assert.StartsWith("--port='0' is out of range",
            Assert.Throws<SettingsException>(() => SettingsResolver.Resolve(null, SettingsFixture.NoEnv, Parse("--port", "0"))).Message);
        Assert.StartsWith("--dtype='fp8' is not a dtype",
            Assert.Throws<SettingsException>(() => SettingsResolver.Resolve(null, SettingsFixture.NoEnv, Parse("--dtype", "fp8"))).Message);
    }

    [Fact]
    public void FlagNamesAreCaseSensitiveLikeEveryOtherFlag()
    {
        var (overrides, remaining) = CliOverridesParser.Parse(["--PORT", "1"]);
        Assert.Null(overrides[SettingName.Port]);
        Assert.Equal(["--PORT", "1"], remaining);
    }
}
