using Bento.Runtime.Settings;
using static Bento.Runtime.Tests.Settings.SettingsFixture;

namespace Bento.Runtime.Tests.Settings;

/// <summary>A bento that chose its own variable for enforce_eager (manifest <c>runtime.enforce_eager.env</c>).</summary>
public sealed class CustomEnforceEagerEnvTests
{
    [Fact]
    public void TheChosenVariableOverridesTheBento()
    {
        var settings = Resolve(Manifest(enforceEager: false, env: "MY_EAGER"), Env(("MY_EAGER", "true")));
        Assert.Equal(new Setting<EagerMode>(EagerMode.True, SettingSource.Env, "MY_EAGER"), settings.EnforceEager);
        Assert.Equal("MY_EAGER", settings.EnforceEagerEnv);
        Assert.Empty(settings.Notes);
    }

    [Fact]
    public void TheDefaultVariableIsNotConsultedAndItsSettingIsNoted()
    {
        var settings = Resolve(Manifest(enforceEager: false, env: "MY_EAGER"), Env(("BENTO_ENFORCE_EAGER", "true")));
        Assert.Equal(new Setting<EagerMode>(EagerMode.False, SettingSource.Bento), settings.EnforceEager);
        Assert.Equal(
            "BENTO_ENFORCE_EAGER is set but ignored: this bento reads enforce_eager from MY_EAGER",
            Assert.Single(settings.Notes));
    }

    [Fact]
    public void TheDefaultVariableIsNotEvenParsed()
    {
        var settings = Resolve(Manifest(enforceEager: true, env: "MY_EAGER"), Env(("BENTO_ENFORCE_EAGER", "maybe")));
        Assert.Equal(new Setting<EagerMode>(EagerMode.True, SettingSource.Bento), settings.EnforceEager);
    }

    [Fact]
    public void TheChosenVariableWinsWhenBothAreSet()
    {
        var settings = Resolve(Manifest(enforceEager: false, env: "MY_EAGER"), Env(("BENTO_ENFORCE_EAGER", "false"), ("MY_EAGER", "on")));
        Assert.Equal(new Setting<EagerMode>(EagerMode.True, SettingSource.Env, "MY_EAGER"), settings.EnforceEager);
    }

    [Fact]
    public void TheDefaultVariableCannotTripALockedBentoThatChoseAnotherName()
    {
        var settings = Resolve(Manifest(enforceEager: true, overridable: false, env: "MY_EAGER"), Env(("BENTO_ENFORCE_EAGER", "false")));
        Assert.Equal(new Setting<EagerMode>(EagerMode.True, SettingSource.Bento), settings.EnforceEager);
        Assert.Single(settings.Notes);
    }

    [Fact]
    public void AnEmptyDefaultVariableIsNotNoted()
    {
        var settings = Resolve(Manifest(env: "MY_EAGER"), Env(("BENTO_ENFORCE_EAGER", "")));
        Assert.Empty(settings.Notes);
    }

    [Fact]
    public void TheFlagStillBeatsTheChosenVariable()
    {
        var settings = Resolve(Manifest(env: "MY_EAGER"), Env(("MY_EAGER", "true")), CliOverrides.None.With(SettingName.EnforceEager, EagerMode.False));
        Assert.Equal(new Setting<EagerMode>(EagerMode.False, SettingSource.Cli, "--no-enforce-eager"), settings.EnforceEager);
    }

    [Fact]
    public void TheChosenNameIsReportedInDescribeAndHealth()
    {
        var settings = Resolve(Manifest(env: "MY_EAGER"), Env(("MY_EAGER", "1")));
        Assert.StartsWith("settings: enforce_eager=true (env MY_EAGER) ", settings.Describe());
        Assert.Equal("MY_EAGER", (string?)settings.ToHealthJson()["enforce_eager"]!["env"]);
    }
}
