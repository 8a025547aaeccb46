using Bento.EndToEnd.Tests.Infrastructure;

namespace Bento.EndToEnd.Tests;

/// <summary><c>bento new NAME [DIR]</c> scaffolds a project that builds once a model is added.</summary>
[Trait("Category", "Slow")]
public sealed class NewCommandTests : EndToEndTest
{
    [Fact]
    public async Task New_ScaffoldsABentofileAndReadme_ThatBuildOnceAModelIsAdded()
    {
        var r = await Bento("new", "my-model", "proj");
        Cli.AssertSuccess(r);
        var dir = Path.Combine(Work, "proj");
        var bentofile = Path.Combine(dir, "bentofile.yaml");
        var readme = Path.Combine(dir, "README.md");
        Assert.True(File.Exists(bentofile), r.ToString());
        Assert.True(File.Exists(readme), r.ToString());
        Assert.Contains(r.StdoutLines, l => l.EndsWith("bentofile.yaml", StringComparison.Ordinal));
        Assert.Contains(r.StdoutLines, l => l.EndsWith("README.md", StringComparison.Ordinal));
        Assert.Contains("name: my-model", File.ReadAllLines(bentofile));
        Assert.Contains("my-model", File.ReadAllText(readme));
        Assert.DoesNotContain("{{", File.ReadAllText(bentofile) + File.ReadAllText(readme));

        await Models.CopyGeneratedAsync(dir);
        var tag = await BuildAsync(dir, "my-model");

        var manifest = await JsonAsync(null, "get", tag, "-o", "json");
        Assert.Equal("my-model", (string?)manifest["name"]);
        Assert.NotEmpty(manifest["model"]!["files"]!.AsArray());
        Assert.Contains(manifest["files"]!.AsArray(), f => (string?)f!["path"] == "README.md"); // include: "*.md"
        Assert.Equal("BENTO_ENFORCE_EAGER", (string?)manifest["runtime"]!["enforce_eager"]!["env"]);
        Cli.AssertSuccess(await Bento("verify", tag));
    }

    [Fact]
    public async Task New_IntoAFolderWithABentofile_RefusesWithoutOverwriting()
    {
        var dir = Temp.Combine("proj");
        Cli.AssertSuccess(await Bento("new", "my-model", dir));
        var bentofile = Path.Combine(dir, "bentofile.yaml");
        var readme = Path.Combine(dir, "README.md");
        File.AppendAllText(bentofile, "# my own edit\n");
        File.AppendAllText(readme, "my own notes\n");
        var before = (File.ReadAllText(bentofile), File.ReadAllText(readme));

        var r = await Bento("new", "my-model", dir);

        Cli.AssertError(r, 1, "already has a bentofile.yaml");
        Assert.Equal(before, (File.ReadAllText(bentofile), File.ReadAllText(readme)));
        Assert.Equal(["README.md", "bentofile.yaml"], Directory.GetFiles(dir).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }
}
