using Bento.Core.Build;
using Bento.Core.Serving;
using Bento.Core.Spec;
using Bento.TestSupport;

namespace Bento.Core.Tests;

/// <summary>
/// The one setting table (<see cref="SettingName"/>) is what every reader goes by: the README's table is a copy of it,
/// and the bentofile accepts exactly the values the table's rule accepts.
/// </summary>
public sealed class SettingsContractTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void The_readme_settings_table_is_the_table()
    {
        var readme = File.ReadAllText(Path.Combine(Repo.Root, "README.md"));
        var copy = SettingsTable.Extract(readme);
        Assert.True(copy is not null, $"README.md has no settings table between '{SettingsTable.Begin}' and '{SettingsTable.End}'");
        Assert.True(copy == SettingsTable.Markdown(),
            $"README.md's settings table has drifted from cli/Bento.Core/Serving/SettingName.cs; replace it with:\n{SettingsTable.Markdown()}");
    }

    [Fact]
    public void Every_setting_has_a_distinct_key_variable_and_flag()
    {
        Assert.Equal(SettingName.All.Count, SettingName.All.Select(s => s.Key).Distinct().Count());
        Assert.Equal(SettingName.All.Count, SettingName.All.Select(s => s.Env).Distinct().Count());
        Assert.Equal(SettingName.All.Count, SettingName.All.Select(s => s.Flag).Distinct().Count());
        Assert.All(SettingName.All, s =>
        {
            Assert.StartsWith("BENTO_", s.Env);
            Assert.Equal("--" + s.Key.Replace('_', '-'), s.Flag);
            // The example in "--flag needs a value, e.g. --flag EXAMPLE" must itself be accepted.
            Assert.True(s.TryParseBoxed(s.Example, out _, out var reason), $"{s.Key}: example '{s.Example}' {reason}");
        });
    }

    [Fact]
    public void Every_default_is_a_value_its_own_rule_accepts()
    {
        foreach (var s in SettingName.All.Where(s => s.DefaultValue is not null))
            Assert.True(s.AllowsBoxed(s.DefaultValue!), $"{s.Key}: default {s.DefaultValue} is out of its own range ({s.Accepts})");
    }

    public static TheoryData<string, string, bool> BoundaryValues() => new()
    {
        { "max_num_seqs", "1", true }, { "max_num_seqs", "65536", true }, { "max_num_seqs", "0", false }, { "max_num_seqs", "65537", false },
        { "port", "1", true }, { "port", "65535", true }, { "port", "0", false }, { "port", "65536", false },
        { "gpu_memory_utilization", "1", true }, { "gpu_memory_utilization", "0.01", true }, { "gpu_memory_utilization", "0", false }, { "gpu_memory_utilization", "1.01", false },
        { "max_model_len", "1", true }, { "max_model_len", "0", false },
        { "dtype", "bf16", true }, { "dtype", "int4", false },
    };

    /// <summary>What the bentofile accepts and what the table's rule (which the runtime applies) accepts are the same set.</summary>
    [Theory]
    [MemberData(nameof(BoundaryValues))]
    public void The_bentofile_and_the_rule_agree_at_the_boundaries(string key, string value, bool accepted)
    {
        var setting = SettingName.All.Single(s => s.Key == key);
        Assert.Equal(accepted, setting.TryParseBoxed(value, out _, out _));
        var file = _dir.Combine("bentofile.yaml");
        File.WriteAllText(file, $"name: m\nruntime:\n  {key}: {value}\n");
        if (accepted)
        {
            Assert.True(BentofileParser.Parse(File.ReadAllText(file), file).Runtime.Given.ContainsKey(setting));
            return;
        }
        var e = Assert.Throws<SpecException>(() => BentofileParser.Parse(File.ReadAllText(file), file));
        Assert.Contains($"runtime.{key}: '{value}' ", e.Message);
        Assert.EndsWith(setting.Accepts, e.Message);
    }

    [Fact]
    public void Only_bentofile_settings_are_bentofile_keys()
    {
        var file = _dir.Combine("bentofile.yaml");
        File.WriteAllText(file, "name: m\nruntime:\n  shutdown_timeout: 5\n");
        var e = Assert.Throws<SpecException>(() => BentofileParser.Parse(File.ReadAllText(file), file));
        Assert.Contains("unknown key under 'runtime'", e.Message);
        Assert.Contains(string.Join(", ", SettingName.Bentofile.Select(s => s.Key)), e.Message);
    }

    [Theory]
    [InlineData("0", 0L)]
    [InlineData("1700000000", 1700000000L)]
    [InlineData("253402300799", 253402300799L)]
    public void Source_date_epoch_is_read_once_for_bento_and_image(string text, long seconds) =>
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(seconds), SourceDateEpoch.Parse(text));

    [Theory]
    [InlineData("-5")]
    [InlineData("yesterday")]
    [InlineData("1.5")]
    [InlineData("253402300800")]
    public void Source_date_epoch_out_of_range_is_refused_naming_it(string text)
    {
        var e = Assert.Throws<BentoException>(() => SourceDateEpoch.Parse(text));
        Assert.StartsWith($"SOURCE_DATE_EPOCH='{text}' is not a whole number of seconds", e.Message);
    }
}
