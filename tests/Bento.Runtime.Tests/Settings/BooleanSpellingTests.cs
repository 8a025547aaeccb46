using Bento.Runtime.Settings;
using static Bento.Runtime.Tests.Settings.SettingsFixture;

namespace Bento.Runtime.Tests.Settings;

/// <summary>Which spellings of a boolean the enforce_eager variable and flag accept, and how the rest are refused.</summary>
public sealed class BooleanSpellingTests
{
    [Theory]
    [InlineData("true")] [InlineData("TRUE")] [InlineData("True")] [InlineData("tRuE")]
    [InlineData("1")]
    [InlineData("yes")] [InlineData("YES")] [InlineData("Yes")]
    [InlineData("on")] [InlineData("ON")] [InlineData("On")]
    [InlineData(" true ")] [InlineData("\tyes\n")] [InlineData("  1")] [InlineData("On  ")]
    public void TrueSpellings(string text)
    {
        var settings = Resolve(Manifest(enforceEager: false), Env(("BENTO_ENFORCE_EAGER", text)));
        Assert.Equal(EagerMode.True, settings.EnforceEager.Value);
        Assert.Equal(SettingSource.Env, settings.EnforceEager.Source);
    }

    [Theory]
    [InlineData("false")] [InlineData("FALSE")] [InlineData("False")] [InlineData("fAlSe")]
    [InlineData("0")]
    [InlineData("no")] [InlineData("NO")] [InlineData("No")]
    [InlineData("off")] [InlineData("OFF")] [InlineData("Off")]
    [InlineData(" false ")] [InlineData("\tno\n")] [InlineData("0  ")] [InlineData("  oFF")]
    public void FalseSpellings(string text)
    {
        var settings = Resolve(Manifest(enforceEager: true), Env(("BENTO_ENFORCE_EAGER", text)));
        Assert.Equal(EagerMode.False, settings.EnforceEager.Value);
        Assert.Equal(SettingSource.Env, settings.EnforceEager.Source);
    }

    [Theory]
    [InlineData("maybe")]
    [InlineData("2")]
    [InlineData("-1")]
    [InlineData("y")]
    [InlineData("n")]
    [InlineData("t")]
    [InlineData("enabled")]
    [InlineData("truee")]
    [InlineData("tru e")]
    [InlineData("01")]
    [InlineData("\"true\"")]
    public void OtherSpellingsStopStartUpNamingVariableValueAndWhatIsAccepted(string text)
    {
        var message = Fails(Manifest(), Env(("BENTO_ENFORCE_EAGER", text)));
        Assert.Equal($"BENTO_ENFORCE_EAGER='{text}' is not true, false or auto; use true/false, 1/0, yes/no, on/off or auto", message);
    }

    [Fact]
    public void TheExactMessageForMaybe()
    {
        Assert.Equal(
            "BENTO_ENFORCE_EAGER='maybe' is not true, false or auto; use true/false, 1/0, yes/no, on/off or auto",
            Fails(null, Env(("BENTO_ENFORCE_EAGER", "maybe"))));
    }

    [Fact]
    public void TheMessageShowsTheValueTrimmed()
    {
        Assert.Equal(
            "BENTO_ENFORCE_EAGER='maybe' is not true, false or auto; use true/false, 1/0, yes/no, on/off or auto",
            Fails(null, Env(("BENTO_ENFORCE_EAGER", "  maybe \n"))));
    }

    [Fact]
    public void ABadVariableStopsStartUpEvenWhenAFlagWouldOverrideIt()
    {
        // A broken deployment value is reported now rather than when the flag that hides it goes away.
        var message = Fails(Manifest(), Env(("BENTO_ENFORCE_EAGER", "maybe")), CliOverrides.None.With(SettingName.EnforceEager, EagerMode.True));
        Assert.StartsWith("BENTO_ENFORCE_EAGER='maybe' is not true, false or auto", message);
    }

    [Fact]
    public void ABadValueInTheBentosChosenVariableNamesThatVariable()
    {
        Assert.Equal(
            "MY_EAGER='sure' is not true, false or auto; use true/false, 1/0, yes/no, on/off or auto",
            Fails(Manifest(env: "MY_EAGER"), Env(("MY_EAGER", "sure"))));
    }
}
