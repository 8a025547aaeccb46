using Bento.Runtime.Settings;

namespace Bento.Runtime.Tests.Settings;

/// <summary>Reading the setting flags off the runtime's command line.</summary>
public sealed class CliOverridesParserTests
{
    private static CliOverrides Parse(params string[] args) => CliOverridesParser.Parse(args).Overrides;

    private static string Fails(params string[] args) =>
        Assert.Throws<SettingsException>(() => CliOverridesParser.Parse(args)).Message;

    [Fact]
    public void NoArgumentsGiveNoOverrides()
    {
        var (overrides, remaining) = CliOverridesParser.Parse([]);
        Assert.Equal(CliOverrides.None, overrides);
        Assert.Empty(remaining);
    }

    [Fact]
    public void EveryFlagWithSeparateValues()
    {
        var overrides = Parse("--enforce-eager", "--max-model-len", "512", "--max-num-seqs", "8", "--dtype", "half",
            "--gpu-memory-utilization", "0.5", "--port", "8080", "--host", "::", "--api-key", "k");
        Assert.Equal(new CliOverrides(EagerMode.True, 512, 8, "half", 0.5, 8080, "::", "k"), overrides);
    }

    [Fact]
    public void EveryFlagWithInlineValues()
    {
        var overrides = Parse("--enforce-eager=off", "--max-model-len=512", "--max-num-seqs=8", "--dtype=bf16",
            "--gpu-memory-utilization=0.5", "--port=8080", "--host=127.0.0.1", "--api-key=a=b");
        Assert.Equal(new CliOverrides(EagerMode.False, 512, 8, "bf16", 0.5, 8080, "127.0.0.1", "a=b"), overrides);
    }

    [Theory]
    [InlineData("--enforce-eager=auto")]
    [InlineData("--enforce-eager=AUTO")]
    public void EnforceEagerTakesAuto(string flag) => Assert.Equal(EagerMode.Auto, Parse(flag).EnforceEager);

    [Fact]
    public void KeyFileAndShutdownTimeout()
    {
        var overrides = Parse("--api-key-file", "/run/secrets/k", "--shutdown-timeout=0");
        Assert.Equal("/run/secrets/k", overrides.ApiKeyFile);
        Assert.Equal(0, overrides.ShutdownTimeout);
    }

    [Fact]
    public void NoEnforceEager() => Assert.Equal(EagerMode.False, Parse("--no-enforce-eager").EnforceEager);

    [Fact]
    public void TheLastOfRepeatedFlagsWins()
    {
        Assert.Equal(EagerMode.False, Parse("--enforce-eager", "--no-enforce-eager").EnforceEager);
        Assert.Equal(EagerMode.True, Parse("--no-enforce-eager", "--enforce-eager").EnforceEager);
        Assert.Equal(2, Parse("--port", "1", "--port", "2").Port);
    }

    [Fact]
    public void OtherArgumentsComeBackInOrder()
    {
        var (overrides, remaining) = CliOverridesParser.Parse(["/bentos/x", "--port", "1", "--verbose", "--model=m", "--", "--port", "2"]);
        Assert.Equal(1, overrides.Port);
        Assert.Equal(["/bentos/x", "--verbose", "--model=m", "--", "--port", "2"], remaining);
    }

    [Fact]
    public void ANegativeNumberIsAValueNotAFlag() => Assert.Equal(-1, Parse("--port", "-1").Port);

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
        Assert.Equal("--max-num-seqs='many' is not an integer; use a whole number of at least 1", Fails("--max-num-seqs=many"));
        Assert.Equal("--max-model-len='4k' is not an integer; use a whole number of at least 1", Fails("--max-model-len", "4k"));
        Assert.Equal("--gpu-memory-utilization='0,9' is not a number; use a number greater than 0 and at most 1, e.g. 0.9",
            Fails("--gpu-memory-utilization", "0,9"));
        Assert.Equal("--enforce-eager='maybe' is not true, false or auto; use true/false, 1/0, yes/no, on/off or auto", Fails("--enforce-eager=maybe"));
        Assert.Equal("--no-enforce-eager takes no value; use --enforce-eager=true instead", Fails("--no-enforce-eager=true"));
    }

    [Fact]
    public void RangesAndDtypesAreLeftToTheResolver()
    {
        var overrides = Parse("--port", "0", "--dtype", "fp8");
        Assert.Equal(0, overrides.Port);
        Assert.Equal("fp8", overrides.Dtype);
        Assert.StartsWith("--port='0' is out of range",
            Assert.Throws<SettingsException>(() => SettingsResolver.Resolve(null, SettingsFixture.NoEnv, overrides with { Dtype = null })).Message);
        Assert.StartsWith("--dtype='fp8' is not a dtype",
            Assert.Throws<SettingsException>(() => SettingsResolver.Resolve(null, SettingsFixture.NoEnv, overrides with { Port = null })).Message);
    }

    [Fact]
    public void FlagNamesAreCaseSensitiveLikeEveryOtherFlag()
    {
        var (overrides, remaining) = CliOverridesParser.Parse(["--PORT", "1"]);
        Assert.Null(overrides.Port);
        Assert.Equal(["--PORT", "1"], remaining);
    }
}
