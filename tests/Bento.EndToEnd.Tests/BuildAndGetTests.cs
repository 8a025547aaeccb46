using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Bento.EndToEnd.Tests.Infrastructure;

namespace Bento.EndToEnd.Tests;

/// <summary><c>bento build</c> of the bundled example and <c>bento get</c> in every output format.</summary>
[Trait("Category", "Slow")]
public sealed class BuildAndGetTests : EndToEndTest
{
    [Fact]
    public async Task Build_ExampleFromAnotherWorkingDirectory_PrintsTagLast_AndSecondBuildReusesIt()
    {
        var example = Models.WaitForExample();
        var other = Temp.CreateDirectory("x"); // not the repository
        var first = await BentoCli.RunAsync(["build", example], new CliOptions { Home = Home, WorkingDirectory = other });

        var tag = Cli.AssertTag(first, "tiny-llama");
        Assert.Matches("^tiny-llama:[0-9a-f]{16}$", tag);
        Assert.Contains($"Built {tag}", first.Stderr);
        Assert.DoesNotContain("\u001b[", first.Stderr); // stderr is not a terminal: no progress bars
        Assert.DoesNotContain("\u001b[", first.Stdout);
        Assert.Single(Store.BentoDirectories());

        var second = await BentoCli.RunAsync(["build", example], new CliOptions { Home = Home, WorkingDirectory = other });
        Assert.Equal(tag, Cli.AssertTag(second, "tiny-llama"));
        Assert.Contains("already exists", second.Stderr);
        Assert.Single(Store.BentoDirectories());
        Assert.Empty(Store.TmpEntries());
    }

    [Fact]
    public async Task Get_Json_HasTheManifestFields()
    {
        var example = Models.WaitForExample();
        var tag = await BuildAsync(example, "tiny-llama");
        var version = tag.Split(':')[1];

        var json = await JsonAsync(null, "get", "tiny-llama", "-o", "json");
        Assert.Equal("tiny-llama", (string?)json["name"]);
        Assert.Equal(version, (string?)json["version"]);
        var created = DateTimeOffset.Parse((string)json["created"]!, System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(created, DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddMinutes(5));
        var labels = Assert.IsType<JsonObject>(json["labels"]);
        Assert.Equal("bentobuilder", (string?)labels["owner"]);
        Assert.Equal("example", (string?)labels["stage"]);

        var files = Assert.IsType<JsonArray>(json["model"]?["files"]).Select(f => f!.AsObject()).ToList();
        Assert.NotEmpty(files);
        foreach (var file in files)
        {
            var path = (string)file["path"]!;
            Assert.Matches("^[0-9a-f]{64}$", (string)file["sha256"]!);
            var source = Path.Combine(example, path);
            Assert.True(File.Exists(source), $"manifest lists {path}, which the example does not have");
            Assert.Equal(new FileInfo(source).Length, (long)file["size"]!);
            Assert.Equal(Sha256Of(source), (string)file["sha256"]!);
        }
        var paths = files.Select(f => (string)f["path"]!).ToList();
        Assert.Contains("config.json", paths);
        Assert.Contains("model.safetensors", paths);
        Assert.Contains("tokenizer.json", paths);

        var eager = Assert.IsType<JsonObject>(json["runtime"]?["enforce_eager"]);
        Assert.False((bool)eager["value"]!);
        Assert.True((bool)eager["overridable"]!);
        Assert.Equal("BENTO_ENFORCE_EAGER", (string?)eager["env"]);

        // Every way to name it resolves to the same bento.
        foreach (var name in new[] { tag, "tiny-llama:latest", $"tiny-llama:{version[..6]}" })
            Assert.Equal(version, (string?)(await JsonAsync(null, "get", name, "-o", "json"))["version"]);
    }

    [Fact]
    public async Task Get_YamlAndPath_Work()
    {
        var tag = await BuildAsync(Models.WaitForExample(), "tiny-llama");
        var version = tag.Split(':')[1];

        var yaml = await Bento("get", tag, "-o", "yaml");
        Cli.AssertSuccess(yaml);
        Assert.Contains("name: tiny-llama", yaml.StdoutLines);
        Assert.Contains($"version: {version}", yaml.StdoutLines.Select(l => l.Replace("\"", "")));
        Assert.Contains(yaml.StdoutLines, l => Regex.IsMatch(l, @"^\s+enforce_eager:\s*$"));
        Assert.Contains(yaml.StdoutLines, l => Regex.IsMatch(l, @"^\s+sha256: ""?[0-9a-f]{64}""?$"));

        var path = await Bento("get", tag, "-o", "path");
        Cli.AssertSuccess(path);
        var directory = Assert.Single(path.StdoutLines);
        Assert.True(Path.IsPathRooted(directory), directory);
        Assert.True(Directory.Exists(directory), $"{directory} is not a directory");
        Assert.StartsWith(Path.GetFullPath(Home), directory);
        var manifest = Path.Combine(directory, "bento.yaml");
        Assert.True(File.Exists(manifest), $"{directory} has no bento.yaml");
        Assert.Contains(version, File.ReadAllText(manifest));
        Assert.True(File.Exists(Path.Combine(directory, "model", "config.json")));
    }
}
