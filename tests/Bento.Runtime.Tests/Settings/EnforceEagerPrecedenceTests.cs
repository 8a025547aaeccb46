using Bento.Runtime.Settings;
using static Bento.Runtime.Tests.Settings.SettingsFixture;

namespace Bento.Runtime.Tests.Settings;

/// <summary>default &lt; bento &lt; env &lt; cli for enforce_eager, over every combination of the layers.</summary>
public sealed class EnforceEagerPrecedenceTests
{
    /// <summary>Each layer absent, false or true: 3 x 3 x 3 combinations.</summary>
    public static TheoryData<bool?, bool?, bool?> Layers()
    {
        bool?[] states = [null, false, true];
        var data = new TheoryData<bool?, bool?, bool?>();
        foreach (var bento in states)
        foreach (var env in states)
        foreach (var cli in states)
            data.Add(bento, env, cli);
        return data;
    }

    [Theory]
    [MemberData(nameof(Layers))]
    public void HighestLayerThatIsPresentWins(bool? bento, bool? env, bool? cli)
    {
        var settings = Resolve(
            bento is null ? null : Manifest(enforceEager: bento.Value),
            env is null ? NoEnv : Env(("BENTO_ENFORCE_EAGER", env.Value ? "true" : "false")),
            cli is null ? CliOverrides.None : CliOverrides.None.With(SettingName.EnforceEager, cli.Value));

        var (value, source, origin) = (cli, env, bento) switch
        {
            ({ } c, _, _) => (c, SettingSource.Cli, c ? "--enforce-eager" : "--no-enforce-eager"),
            (null, { } e, _) => (e, SettingSource.Env, "BENTO_ENFORCE_EAGER"),
            (null, null, { } b) => (b, SettingSource.Bento, (string?)null),
            _ => (false, SettingSource.Default, null),
        };
        Assert.Equal(new Setting<bool>(value, source, origin), settings.EnforceEager);
    }

    [Fact]
    public void NothingSetIsFalseFromTheDefault()
    {
        var settings = Resolve();
        Assert.False(settings.EnforceEager.Value);
        Assert.Equal(SettingSource.Default, settings.EnforceEager.Source);
        Assert.Equal("BENTO_ENFORCE_EAGER", settings.EnforceEagerEnv);
        Assert.True(settings.EnforceEagerOverridable);
    }

    [Fact]
    public void TheBentoBeatsTheDefault()
    {
        var settings = Resolve(Manifest(enforceEager: true));
        Assert.Equal(new Setting<bool>(true, SettingSource.Bento), settings.EnforceEager);
    }

    [Fact]
    public void TheEnvironmentBeatsTheBento()
    {
        var settings = Resolve(Manifest(enforceEager: true), Env(("BENTO_ENFORCE_EAGER", "false")));
        Assert.Equal(new Setting<bool>(false, SettingSource.Env, "BENTO_ENFORCE_EAGER"), settings.EnforceEager);
    }

    [Fact]
    public void TheEnvironmentWorksWithoutABento()
    {
        var settings = Resolve(null, Env(("BENTO_ENFORCE_EAGER", "yes")));
        Assert.Equal(new Setting<bool>(true, SettingSource.Env, "BENTO_ENFORCE_EAGER"), settings.EnforceEager);
    }

    [Fact]
    public void TheFlagBeatsTheEnvironment()
    {
        var settings = Resolve(Manifest(enforceEager: false), Env(("BENTO_ENFORCE_EAGER", "true")), CliOverrides.None.With(SettingName.EnforceEager, false));
        Assert.Equal(new Setting<bool>(false, SettingSource.Cli, "--no-enforce-eager"), settings.EnforceEager);
    }

    [Fact]
    public void TheFlagBeatsTheBento()
    {
        var settings = Resolve(Manifest(enforceEager: false), cli: CliOverrides.None.With(SettingName.EnforceEager, true));
        Assert.Equal(new Setting<bool>(true, SettingSource.Cli, "--enforce-eager"), settings.EnforceEager);
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("\t\n")]
    public void AnEmptyVariableCountsAsUnset(string empty)
    {
        var settings = Resolve(Manifest(enforceEager: true), Env(("BENTO_ENFORCE_EAGER", empty)));
        Assert.Equal(new Setting<bool>(true, SettingSource.Bento), settings.EnforceEager);
        Assert.Empty(settings.Notes);
    }

    [Fact]
    public void AnEmptyVariableWithoutABentoLeavesTheDefault()
    {
        var settings = Resolve(null, Env(("BENTO_ENFORCE_EAGER", "")));
        Assert.Equal(new Setting<bool>(false, SettingSource.Default), settings.EnforceEager);
    }

    [Fact]
    public void ABlankEnvNameInTheManifestFallsBackToTheDefaultName()
    {
        var settings = Resolve(Manifest(env: "  "), Env(("BENTO_ENFORCE_EAGER", "on")));
        Assert.Equal("BENTO_ENFORCE_EAGER", settings.EnforceEagerEnv);
        Assert.Equal(new Setting<bool>(true, SettingSource.Env, "BENTO_ENFORCE_EAGER"), settings.EnforceEager);
    }

    [Fact]
    public void OtherVariablesAreNotMistakenForTheSetting()
    {
        var settings = Resolve(Manifest(enforceEager: false), Env(("ENFORCE_EAGER", "true"), ("bento_enforce_eager", "true"), ("VLLM_ENFORCE_EAGER", "1")));
        Assert.Equal(new Setting<bool>(false, SettingSource.Bento), settings.EnforceEager);
    }
}
