using Bento.Core.Manifest;
using Bento.Core.Spec;
using static Bento.Core.Tests.HostileInput;
using static Bento.TestSupport.HostileFiles;

namespace Bento.Core.Tests;

/// <summary>
/// YAML that used to take gigabytes or overflow the stack, in bentofile.yaml and in bento.yaml: refused by the
/// pre-pass with file, line, column and limit, in bounded time and memory.
/// </summary>
[Collection(HostileInputCollection.Name)]
public class YamlBombTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string BentofilePath => _dir.Combine("bentofile.yaml");

    private string BentofileDisplay => BentofileParser.DisplayPath(BentofilePath);

    /// <summary>The message for <paramref name="yaml"/> as a bentofile (loaded from disk) and as a manifest.</summary>
    private async Task<(string Bentofile, string Manifest)> BothFailAsync(string yaml)
    {
        File.WriteAllText(BentofilePath, yaml);
        var spec = await FailsBoundedAsync<SpecException>(() => BentofileParser.Load(BentofilePath));
        var manifest = await FailsBoundedAsync<BentoException>(() => ManifestSerializer.FromYaml(yaml, "store/bento.yaml"));
        return (spec.Message, manifest.Message);
    }

    [Fact]
    public async Task Billion_laughs_is_refused_without_expanding_it()
    {
        var bomb = BillionLaughs("name: m\n");
        Assert.InRange(bomb.Length, 1, 420);
        var (spec, manifest) = await BothFailAsync(bomb);
        const string why = "YAML document has more than the 1000000 nodes allowed once aliases are expanded (an alias bomb?)";
        // Line 8 is the first whose expansion passes a million (9^7 nodes each), column 11 the alias that does it.
        Assert.StartsWith($"{BentofileDisplay}:8:11: {why}", spec);
        Assert.StartsWith($"store/bento.yaml:8:11: {why}", manifest);
        Assert.Contains("BENTO_MAX_YAML_NODES", spec);
    }

    [Theory]
    [InlineData("x: &a [*a]\n", 1, 8)]
    [InlineData("name: m\nlabels: &l {a: b, c: *l}\n", 2, 22)]
    [InlineData("x: &a [1, [2, {k: *a}]]\n", 1, 19)]
    public async Task A_recursive_alias_is_refused(string yaml, int line, int column)
    {
        var (spec, manifest) = await BothFailAsync(yaml);
        const string why = "refers to a node that contains it (a recursive alias)";
        Assert.StartsWith($"{BentofileDisplay}:{line}:{column}: alias *", spec);
        Assert.Contains(why, spec);
        Assert.StartsWith($"store/bento.yaml:{line}:{column}: alias *", manifest);
    }

    [Theory]
    [InlineData("[")]
    [InlineData("{a: ")]
    [InlineData("- ")]
    public async Task Deep_nesting_is_refused_at_the_level_past_the_limit(string opener)
    {
        // 100000 levels: the recursive loader overflowed the stack long before the end (and the text is unclosed,
        // so only a check that runs first can report anything but a syntax error).
        var yaml = string.Concat(Enumerable.Repeat(opener, 100_000));
        var (spec, manifest) = await BothFailAsync(yaml);
        var column = opener.Length * 64 + 1;
        Assert.StartsWith($"{BentofileDisplay}:1:{column}: YAML nested deeper than the 64-level limit", spec);
        Assert.StartsWith($"store/bento.yaml:1:{column}: YAML nested deeper than the 64-level limit", manifest);
    }

    [Fact]
    public async Task Nesting_built_from_aliases_counts_towards_the_depth()
    {
        // Each line is one level deeper than the one before through an alias, never nested in the text itself.
        var yaml = "a0: &a0 [x]\n" + string.Concat(Enumerable.Range(1, 100).Select(i => $"a{i}: &a{i} [*a{i - 1}]\n"));
        var (spec, _) = await BothFailAsync(yaml);
        Assert.Contains("YAML nested deeper than the 64-level limit once alias *a62 is expanded", spec);
        Assert.StartsWith($"{BentofileDisplay}:64:", spec);
    }

    [Fact]
    public async Task A_yaml_file_over_the_size_limit_is_refused_before_it_is_read()
    {
        MakeSparse(BentofilePath, InputLimits.YamlBytes.Value + 1);
        var e = await FailsBoundedAsync<BentoException>(() => BentofileParser.Load(BentofilePath));
        Assert.Equal($"{BentofileDisplay}: 16 MiB (16777217 bytes) exceeds the 16 MiB limit for bentofile.yaml; " +
                     "set BENTO_MAX_YAML_BYTES to raise the limit if the file is genuine", e.Message);
    }

    [Fact]
    public void Ordinary_aliases_within_the_limits_still_work()
    {
        Directory.CreateDirectory(_dir.Combine("weights"));
        var spec = BentofileParser.Parse("name: m\nmodel: &w weights\nlabels: {path: *w, again: *w}\n", BentofilePath);
        Assert.Equal("weights", spec.Labels["path"]);
        Assert.Equal("weights", spec.Labels["again"]);
        // A redefined anchor is not "recursive": the alias refers to the latest definition, which is complete.
        YamlBounds.Check("x: &a [&a 1, *a]\n", "t.yaml");
        YamlBounds.Check(string.Concat(Enumerable.Repeat("[", 64)) + string.Concat(Enumerable.Repeat("]", 64)), "t.yaml");
    }
}
