using Bento.Runtime.Settings;
using static Bento.Runtime.Tests.Settings.SettingsFixture;

namespace Bento.Runtime.Tests.Settings;

/// <summary>
/// A bento built with <c>overridable: false</c>: asking for a different enforce_eager stops start-up; asking for the
/// same value is accepted, keeps the source <c>bento</c> and leaves a note.
/// </summary>
public sealed class LockedEnforceEagerTests
{
    [Fact]
    public void NothingSetGivesTheLockedValueFromTheBento()
    {
        var settings = Resolve(Manifest(enforceEager: true, overridable: false));
        Assert.Equal(new Setting<EagerMode>(EagerMode.True, SettingSource.Bento), settings.EnforceEager);
        Assert.False(settings.EnforceEagerOverridable);
        Assert.Empty(settings.Notes);
    }

    [Fact]
    public void AVariableThatTriesToChangeItStopsStartUp()
    {
        Assert.Equal(
            "BENTO_ENFORCE_EAGER=false conflicts with this bento: enforce_eager is locked to true by its builder (overridable: false); " +
            "unset the variable or rebuild the bento with overridable: true",
            Fails(Manifest(enforceEager: true, overridable: false), Env(("BENTO_ENFORCE_EAGER", "false"))));
    }

    [Fact]
    public void TheConflictNamesTheValueAsTheOperatorWroteIt()
    {
        Assert.Equal(
            "BENTO_ENFORCE_EAGER=Yes conflicts with this bento: enforce_eager is locked to false by its builder (overridable: false); " +
            "unset the variable or rebuild the bento with overridable: true",
            Fails(Manifest(enforceEager: false, overridable: false), Env(("BENTO_ENFORCE_EAGER", " Yes "))));
    }

    [Fact]
    public void TheConflictNamesTheBentosChosenVariable()
    {
        Assert.Equal(
            "MY_EAGER=0 conflicts with this bento: enforce_eager is locked to true by its builder (overridable: false); " +
            "unset the variable or rebuild the bento with overridable: true",
            Fails(Manifest(enforceEager: true, overridable: false, env: "MY_EAGER"), Env(("MY_EAGER", "0"))));
    }

    [Fact]
    public void AFlagThatTriesToChangeItStopsStartUpNamingTheFlag()
    {
        Assert.Equal(
            "--no-enforce-eager conflicts with this bento: enforce_eager is locked to true by its builder (overridable: false); " +
            "drop the flag or rebuild the bento with overridable: true",
            Fails(Manifest(enforceEager: true, overridable: false), cli: CliOverrides.None.With(SettingName.EnforceEager, EagerMode.False)));
        Assert.Equal(
            "--enforce-eager conflicts with this bento: enforce_eager is locked to false by its builder (overridable: false); " +
            "drop the flag or rebuild the bento with overridable: true",
            Fails(Manifest(enforceEager: false, overridable: false), cli: CliOverrides.None.With(SettingName.EnforceEager, EagerMode.True)));
    }

    [Fact]
    public void AFlagThatTriesToChangeItStopsStartUpEvenWhenTheVariableAgrees()
    {
        var message = Fails(Manifest(enforceEager: true, overridable: false), Env(("BENTO_ENFORCE_EAGER", "true")), CliOverrides.None.With(SettingName.EnforceEager, EagerMode.False));
        Assert.StartsWith("--no-enforce-eager conflicts with this bento", message);
    }

    [Theory]
    [InlineData(true, "true")]
    [InlineData(true, "1")]
    [InlineData(true, "ON")]
    [InlineData(false, "false")]
    [InlineData(false, "no")]
    public void AVariableEqualToTheLockedValueIsAcceptedAndNoted(bool locked, string text)
    {
        var settings = Resolve(Manifest(enforceEager: locked, overridable: false), Env(("BENTO_ENFORCE_EAGER", text)));
        Assert.Equal(new Setting<EagerMode>(EagerModes.FromBool(locked), SettingSource.Bento), settings.EnforceEager);
        var note = Assert.Single(settings.Notes);
        Assert.Equal(
            $"BENTO_ENFORCE_EAGER={text} matches enforce_eager={(locked ? "true" : "false")}, which this bento's builder locked (overridable: false); it has nothing to override",
            note);
    }

    [Theory]
    [InlineData(true, "--enforce-eager")]
    [InlineData(false, "--no-enforce-eager")]
    public void AFlagEqualToTheLockedValueIsAcceptedAndNoted(bool locked, string flag)
    {
        var settings = Resolve(Manifest(enforceEager: locked, overridable: false), cli: CliOverrides.None.With(SettingName.EnforceEager, EagerModes.FromBool(locked)));
        Assert.Equal(new Setting<EagerMode>(EagerModes.FromBool(locked), SettingSource.Bento), settings.EnforceEager);
        Assert.StartsWith($"{flag} matches enforce_eager=", Assert.Single(settings.Notes));
    }

    [Fact]
    public void AnEmptyVariableDoesNotConflict()
    {
        var settings = Resolve(Manifest(enforceEager: true, overridable: false), Env(("BENTO_ENFORCE_EAGER", " ")));
        Assert.Equal(new Setting<EagerMode>(EagerMode.True, SettingSource.Bento), settings.EnforceEager);
        Assert.Empty(settings.Notes);
    }

    [Fact]
    public void AnUnparsableVariableIsReportedAsSuchNotAsAConflict()
    {
        Assert.Equal(
            "BENTO_ENFORCE_EAGER='maybe' is not true, false or auto; use true/false, 1/0, yes/no, on/off or auto",
            Fails(Manifest(enforceEager: true, overridable: false), Env(("BENTO_ENFORCE_EAGER", "maybe"))));
    }

    [Fact]
    public void TheLockOnlyCoversEnforceEager()
    {
        var settings = Resolve(Manifest(enforceEager: true, overridable: false), Env(("BENTO_MAX_NUM_SEQS", "4")), CliOverrides.None.With(SettingName.Port, 8080));
        Assert.Equal(new Setting<int>(4, SettingSource.Env, "BENTO_MAX_NUM_SEQS"), settings.MaxNumSeqs);
        Assert.Equal(new Setting<int>(8080, SettingSource.Cli, "--port"), settings.Port);
    }
}
