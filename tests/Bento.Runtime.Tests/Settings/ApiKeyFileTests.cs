using Bento.Runtime.Settings;
using static Bento.Runtime.Tests.Settings.SettingsFixture;

namespace Bento.Runtime.Tests.Settings;

/// <summary>The API key from a file (a mounted secret), and the guard that checks it.</summary>
public sealed class ApiKeyFileTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string KeyFile(string content)
    {
        var path = Path.Combine(_dir.Path, "key-" + Guid.NewGuid().ToString("N")[..6]);
        File.WriteAllText(path, content);
        return path;
    }

    private static string Fails(IReadOnlyDictionary<string, string> env, CliOverrides cli) =>
        Assert.Throws<SettingsException>(() => SettingsResolver.Resolve(Manifest(), env, cli)).Message;

    [Fact]
    public void A_key_file_from_the_flag_is_read_and_its_trailing_newline_dropped()
    {
        var settings = SettingsResolver.Resolve(Manifest(), Env(), CliOverrides.None.With(SettingName.ApiKeyFile, KeyFile("s3cret\n")));
        Assert.Equal("s3cret", settings.ApiKey.Value);
        Assert.Equal("cli --api-key-file", settings.ApiKey.DisplaySource);
        Assert.DoesNotContain("s3cret", settings.Describe());
    }

    [Fact]
    public void A_key_file_from_the_variable_is_read_and_a_flag_beats_it()
    {
        var env = Env(("BENTO_API_KEY_FILE", KeyFile("from-env")));
        Assert.Equal("from-env", SettingsResolver.Resolve(Manifest(), env, CliOverrides.None).ApiKey.Value);
        Assert.Equal("flag", SettingsResolver.Resolve(Manifest(), env, CliOverrides.None.With(SettingName.ApiKey, "flag")).ApiKey.Value);
    }

    [Fact]
    public void A_key_and_a_key_file_in_the_same_layer_are_refused()
    {
        Assert.Contains("both BENTO_API_KEY and BENTO_API_KEY_FILE", Fails(Env(("BENTO_API_KEY", "a"), ("BENTO_API_KEY_FILE", KeyFile("b"))), CliOverrides.None));
        Assert.Contains("both --api-key and --api-key-file", Fails(Env(), CliOverrides.None.With(SettingName.ApiKey, "a").With(SettingName.ApiKeyFile, KeyFile("b"))));
    }

    [Theory]
    [InlineData("", "is empty")]
    [InlineData("  \n", "is empty")]
    [InlineData("two words", "whitespace inside it")]
    public void A_bad_key_file_is_refused_without_quoting_it(string content, string expected)
    {
        var message = Fails(Env(), CliOverrides.None.With(SettingName.ApiKeyFile, KeyFile(content)));
        Assert.Contains(expected, message);
        Assert.Contains("--api-key-file", message);
        if (content.Trim().Length > 0) Assert.DoesNotContain(content.Trim(), message);
    }

    [Fact]
    public void Devices_directories_missing_and_oversized_files_are_refused_at_once()
    {
        Assert.Contains("not a regular file", Fails(Env(), CliOverrides.None.With(SettingName.ApiKeyFile, "/dev/zero")));
        Assert.Contains("not a regular file", Fails(Env(), CliOverrides.None.With(SettingName.ApiKeyFile, _dir.Path)));
        Assert.Contains("no such file", Fails(Env(), CliOverrides.None.With(SettingName.ApiKeyFile, Path.Combine(_dir.Path, "nope"))));
        Assert.Contains("at most 4096", Fails(Env(), CliOverrides.None.With(SettingName.ApiKeyFile, KeyFile(new string('k', 5000)))));
    }

    [Fact]
    public void The_guard_accepts_only_the_exact_bearer_header()
    {
        var guard = new Bento.Runtime.Server.ApiKeyGuard("k-123");
        Assert.True(guard.Allows("Bearer k-123"));
        Assert.False(guard.Allows("Bearer k-12"));
        Assert.False(guard.Allows("Bearer k-1234"));
        Assert.False(guard.Allows("bearer k-123"));
        Assert.False(guard.Allows(""));
        Assert.DoesNotContain("k-123", guard.ToString());
    }
}
