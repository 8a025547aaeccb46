using Bento.Runtime.Settings;
using static Bento.Runtime.Tests.Settings.SettingsFixture;

namespace Bento.Runtime.Tests.Settings;

/// <summary>dtype, host and api_key: precedence, spellings, aliases and errors.</summary>
public sealed class TextSettingsTests
{
    private const string DtypeAccepts = "use auto, float32, float16, bfloat16 (or the aliases float, fp32, half, fp16, bf16)";

    [Fact]
    public void DefaultsWithoutABento()
    {
        var settings = Resolve();
        Assert.Equal(new Setting<string>("auto", SettingSource.Default), settings.Dtype);
        Assert.Equal(new Setting<string>("0.0.0.0", SettingSource.Default), settings.Host);
        Assert.Null(settings.ApiKey.Value);
        Assert.Equal(SettingSource.Default, settings.ApiKey.Source);
    }

    [Fact]
    public void DtypePrecedence()
    {
        Assert.Equal(new Setting<string>("float32", SettingSource.Bento), Resolve(Manifest(dtype: "float32")).Dtype);
        Assert.Equal(new Setting<string>("bfloat16", SettingSource.Env, "BENTO_DTYPE"),
            Resolve(Manifest(dtype: "float32"), Env(("BENTO_DTYPE", "bfloat16"))).Dtype);
        Assert.Equal(new Setting<string>("float16", SettingSource.Cli, "--dtype"),
            Resolve(Manifest(dtype: "float32"), Env(("BENTO_DTYPE", "bfloat16")), CliOverrides.None.With(SettingName.Dtype, "float16")).Dtype);
    }

    [Fact]
    public void ABlankDtypeInTheManifestMeansTheBentoDidNotSay() =>
        Assert.Equal(new Setting<string>("auto", SettingSource.Default), Resolve(Manifest(dtype: "")).Dtype);

    [Theory]
    [InlineData("auto", "auto")]
    [InlineData("float32", "float32")]
    [InlineData("float16", "float16")]
    [InlineData("bfloat16", "bfloat16")]
    [InlineData("half", "float16")]
    [InlineData("float", "float32")]
    [InlineData("bf16", "bfloat16")]
    [InlineData("BFloat16", "bfloat16")]
    [InlineData(" HALF ", "float16")]
    [InlineData("Auto", "auto")]
    [InlineData("fp16", "float16")]
    [InlineData("fp32", "float32")]
    public void DtypeSpellingsAndAliases(string text, string dtype)
    {
        Assert.Equal(dtype, Resolve(Manifest(), Env(("BENTO_DTYPE", text))).Dtype.Value);
        Assert.Equal(dtype, Resolve(Manifest(), cli: CliOverrides.None.With(SettingName.Dtype, text)).Dtype.Value);
        Assert.Equal(dtype, Resolve(Manifest(dtype: text)).Dtype.Value);
    }

    [Theory]
    [InlineData("float64")]
    [InlineData("int8")]
    [InlineData("bfloat")]
    [InlineData("float 16")]
    public void DtypeTyposStopStartUp(string text)
    {
        Assert.Equal($"BENTO_DTYPE='{text}' is not a dtype; {DtypeAccepts}", Fails(Manifest(), Env(("BENTO_DTYPE", text))));
        Assert.Equal($"--dtype='{text}' is not a dtype; {DtypeAccepts}", Fails(Manifest(), cli: CliOverrides.None.With(SettingName.Dtype, text)));
        Assert.Equal($"bento.yaml runtime.dtype='{text}' is not a dtype; {DtypeAccepts}", Fails(Manifest(dtype: text)));
    }

    [Fact]
    public void AnEmptyDtypeFlagIsATypo() =>
        Assert.Equal($"--dtype='' is not a dtype; {DtypeAccepts}", Fails(Manifest(), cli: CliOverrides.None.With(SettingName.Dtype, "")));

    [Fact]
    public void AnEmptyDtypeVariableCountsAsUnset() =>
        Assert.Equal(new Setting<string>("float32", SettingSource.Bento), Resolve(Manifest(), Env(("BENTO_DTYPE", ""))).Dtype);

    [Fact]
    public void HostPrecedenceIgnoresTheBentoWhichHasNoHost()
    {
        Assert.Equal(new Setting<string>("0.0.0.0", SettingSource.Default), Resolve(Manifest()).Host);
        Assert.Equal(new Setting<string>("127.0.0.1", SettingSource.Env, "BENTO_HOST"),
            Resolve(Manifest(), Env(("BENTO_HOST", " 127.0.0.1 "))).Host);
        Assert.Equal(new Setting<string>("::", SettingSource.Cli, "--host"),
            Resolve(Manifest(), Env(("BENTO_HOST", "127.0.0.1")), CliOverrides.None.With(SettingName.Host, "::")).Host);
    }

    [Fact]
    public void AnEmptyHostVariableCountsAsUnset() =>
        Assert.Equal(SettingSource.Default, Resolve(null, Env(("BENTO_HOST", ""))).Host.Source);

    [Theory]
    [InlineData("")]
    [InlineData("  ")]
    [InlineData("my host")]
    public void HostFlagErrors(string text) =>
        Assert.Equal($"--host='{text}' is not a host; use an address or host name such as 0.0.0.0, :: or 127.0.0.1",
            Fails(null, cli: CliOverrides.None.With(SettingName.Host, text)));

    [Fact]
    public void HostVariableWithInnerSpaceIsAnError() =>
        Assert.Equal("BENTO_HOST='0.0.0.0 8080' is not a host; use an address or host name such as 0.0.0.0, :: or 127.0.0.1",
            Fails(null, Env(("BENTO_HOST", "0.0.0.0 8080"))));

    [Fact]
    public void ApiKeyPrecedence()
    {
        var fromEnv = Resolve(Manifest(), Env(("BENTO_API_KEY", "env-secret")));
        Assert.Equal("env-secret", fromEnv.ApiKey.Value);
        Assert.Equal(SettingSource.Env, fromEnv.ApiKey.Source);
        Assert.Equal("BENTO_API_KEY", fromEnv.ApiKey.Origin);

        var fromFlag = Resolve(Manifest(), Env(("BENTO_API_KEY", "env-secret")), CliOverrides.None.With(SettingName.ApiKey, "cli-secret"));
        Assert.Equal("cli-secret", fromFlag.ApiKey.Value);
        Assert.Equal(SettingSource.Cli, fromFlag.ApiKey.Source);
        Assert.Equal("--api-key", fromFlag.ApiKey.Origin);
    }

    [Fact]
    public void ApiKeyIsTrimmedAndEmptyMeansNone()
    {
        Assert.Equal("k3y", Resolve(null, Env(("BENTO_API_KEY", " k3y\n"))).ApiKey.Value);
        var empty = Resolve(null, Env(("BENTO_API_KEY", "")));
        Assert.Null(empty.ApiKey.Value);
        Assert.Equal(SettingSource.Default, empty.ApiKey.Source);
    }

    [Theory]
    [InlineData("")]
    [InlineData(" ")]
    public void AnEmptyApiKeyFlagIsRefused(string text) =>
        Assert.Equal("--api-key is empty; give the key, or leave the flag out to use BENTO_API_KEY or no key",
            Fails(null, Env(("BENTO_API_KEY", "k")), CliOverrides.None.With(SettingName.ApiKey, text)));

    [Fact]
    public void ApiKeyNeverPrintsThroughTheSettingOrTheOverrides()
    {
        var cli = CliOverrides.None.With(SettingName.ApiKey, "cli-secret");
        var settings = Resolve(null, Env(("BENTO_API_KEY", "env-secret")), cli);
        Assert.True(settings.ApiKey.IsSecret);
        Assert.Equal("set (cli --api-key)", settings.ApiKey.ToString());
        Assert.DoesNotContain("secret", settings.ToString());
        Assert.DoesNotContain("secret", settings.Describe());
        Assert.DoesNotContain("secret", settings.ToHealthJson().ToJsonString());
        Assert.DoesNotContain("cli-secret", cli.ToString());
        Assert.Contains("api_key = set", cli.ToString());
        Assert.Equal("unset (default)", Resolve().ApiKey.ToString());
    }

    [Fact]
    public void ToolCallParserPrecedenceAndSpellings()
    {
        Assert.Equal(new Setting<string>("auto", SettingSource.Default), Resolve().ToolCallParser);
        var manifest = Manifest();
        manifest.Runtime.ToolCallParser = "mistral";
        Assert.Equal(new Setting<string>("mistral", SettingSource.Bento), Resolve(manifest).ToolCallParser);
        Assert.Equal(new Setting<string>("hermes", SettingSource.Env, "BENTO_TOOL_CALL_PARSER"), Resolve(manifest, Env(("BENTO_TOOL_CALL_PARSER", " Hermes "))).ToolCallParser);
        Assert.Equal(new Setting<string>("llama3_json", SettingSource.Cli, "--tool-call-parser"),
            Resolve(manifest, Env(("BENTO_TOOL_CALL_PARSER", "hermes")), CliOverrides.None.WithText(SettingName.ToolCallParser, "llama3_json")).ToolCallParser);
        var error = Assert.Throws<SettingsException>(() => Resolve(null, Env(("BENTO_TOOL_CALL_PARSER", "qwen"))));
        Assert.Equal("BENTO_TOOL_CALL_PARSER='qwen' is not a tool-call parser; use auto, hermes, llama3_json, mistral or none", error.Message);
        Assert.Equal("mistral", Resolve(manifest, cli: CliOverridesParser.Parse(["--tool-call-parser", "MISTRAL"]).Overrides).ToolCallParser.Value);
    }
}
