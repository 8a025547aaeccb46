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
            cli is null ? CliOverrides.None : CliOverrides.None.With(SettingName.EnforceEager, EagerModes.FromBool(cli.Value)));

        var (value, source, origin) = (cli, env, bento) switch
        {
            ({ } c, _, _) => (c, SettingSource.Cli, c ? "--enforce-eager" : "--no-enforce-eager"),
            (null, { } e, _) => (e, SettingSource.Env, "BENTO_ENFORCE_EAGER"),
            (null, null, { } b) => (b, SettingSource.Bento, (string?)null),
            _ => (false, SettingSource.Default, null),
        };
        Assert.Equal(new Setting<EagerMode>(EagerModes.FromBool(value), source, origin), settings.EnforceEager);
    }

    [Fact]
    public void NothingSetIsFalseFromTheDefault()
    {
        var settings = Resolve();
        Assert.Equal(EagerMode.False, settings.EnforceEager.Value);
        Assert.Equal(SettingSource.Default, settings.EnforceEager.Source);
        Assert.Equal("BENTO_ENFORCE_EAGER", settings.EnforceEagerEnv);
        Assert.True(settings.EnforceEagerOverridable);
    }

    [Fact]
    public void TheBentoBeatsTheDefault()
    {
        var settings = Resolve(Manifest(enforceEager: true));
        Assert.Equal(new Setting<EagerMode>(EagerMode.True, SettingSource.Bento), settings.EnforceEager);
    }

    [Fact]
    public void TheEnvironmentBeatsTheBento()
    {
        var settings = Resolve(Manifest(enforceEager: true), Env(("BENTO_ENFORCE_EAGER", "false")));
        Assert.Equal(new Setting<EagerMode>(EagerMode.False, SettingSource.Env, "BENTO_ENFORCE_EAGER"), settings.EnforceEager);
    }

    [Fact]
    public void TheEnvironmentWorksWithoutABento()
    {
        var settings = Resolve(null, Env(("BENTO_ENFORCE_EAGER", "yes")));
        Assert.Equal(new Setting<EagerMode>(EagerMode.True, SettingSource.Env, "BENTO_ENFORCE_EAGER"), settings.EnforceEager);
    }

    [Fact]
    public void TheFlagBeatsTheEnvironment()
    {
        var settings = Resolve(Manifest(enforceEager: false), Env(("BENTO_ENFORCE_EAGER", "true")), CliOverrides.None.With(SettingName.EnforceEager, EagerMode.False));
        Assert.Equal(new Setting<EagerMode>(EagerMode.False, SettingSource.Cli, "--no-enforce-eager"), settings.EnforceEager);
    }

    [Fact]
    public void TheFlagBeatsTheBento()
    {
        var settings = Resolve(Manifest(enforceEager: false), cli: CliOverrides.None.With(SettingName.EnforceEager, EagerMode.True));
        Assert.Equal(new Setting<EagerMode>(EagerMode.True, SettingSource.Cli, "--enforce-eager"), settings.EnforceEager);
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("\t\n")]
    public void AnEmptyVariableCountsAsUnset(string empty)
    {
        var settings = Resolve(Manifest(enforceEager: true), Env(("BENTO_ENFORCE_EAGER", empty)));
        Assert.Equal(new Setting<EagerMode>(EagerMode.True, SettingSource.Bento), settings.EnforceEager);
        Assert.Empty(settings.Notes);
    }

    [Fact]
    public void AnEmptyVariableWithoutABentoLeavesTheDefault()
    {
        var settings = Resolve(null, Env(("BENTO_ENFORCE_EAGER", "")));
        Assert.Equal(new Setting<EagerMode>(EagerMode.False, SettingSource.Default), settings.EnforceEager);
    }

    [Fact]
    public void ABlankEnvNameInTheManifestFallsBackToTheDefaultName()
    {
        var settings = Resolve(Manifest(env: "  "), Env(("BENTO_ENFORCE_EAGER", "on")));
        Assert.Equal("BENTO_ENFORCE_EAGER", settings.EnforceEagerEnv);
        Assert.Equal(new Setting<EagerMode>(EagerMode.True, SettingSource.Env, "BENTO_ENFORCE_EAGER"), settings.EnforceEager);
    }

    [Fact]
    public void OtherVariablesAreNotMistakenForTheSetting()
    {
        var settings = Resolve(Manifest(enforceEager: false), Env(("ENFORCE_EAGER", "true"), ("bento_enforce_eager", "true"), ("VLLM_ENFORCE_EAGER", "1")));
        Assert.Equal(new Setting<EagerMode>(EagerMode.False, SettingSource.Bento), settings.EnforceEager);
    }

    [Fact]
    public void AutoIsAValueOfEveryLayer()
    {
        Assert.Equal(new Setting<EagerMode>(EagerMode.Auto, SettingSource.Bento), Resolve(Manifest(eagerMode: EagerMode.Auto)).EnforceEager);
        Assert.Equal(new Setting<EagerMode>(EagerMode.Auto, SettingSource.Env, "BENTO_ENFORCE_EAGER"),
            Resolve(Manifest(enforceEager: true), Env(("BENTO_ENFORCE_EAGER", " Auto "))).EnforceEager);
        var fromFlag = Resolve(Manifest(), Env(("BENTO_ENFORCE_EAGER", "1")), CliOverrides.None.With(SettingName.EnforceEager, EagerMode.Auto));
        Assert.Equal(new Setting<EagerMode>(EagerMode.Auto, SettingSource.Cli, "--enforce-eager=auto"), fromFlag.EnforceEager);
        Assert.Contains("enforce_eager=auto (cli --enforce-eager=auto)", fromFlag.Describe());
        var health = fromFlag.ToHealthJson()["enforce_eager"]!;
        Assert.Equal("auto", health["value"]!.GetValue<string>());
        Assert.Equal("--enforce-eager=auto", health["flag"]!.GetValue<string>());
        // true and false stay JSON booleans on /health.
        Assert.True(Resolve(Manifest(enforceEager: true)).ToHealthJson()["enforce_eager"]!["value"]!.GetValue<bool>());
    }

    [Fact]
    public void ALockedAutoRefusesABooleanOverride() =>
        Assert.Contains("enforce_eager is locked to auto", Fails(Manifest(eagerMode: EagerMode.Auto, overridable: false), Env(("BENTO_ENFORCE_EAGER", "true"))));
}
