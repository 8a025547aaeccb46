using System.Text.Json.Nodes;
using Bento.EndToEnd.Tests.Infrastructure;

namespace Bento.EndToEnd.Tests;

/// <summary>Rebuilding after a bentofile-only edit: a new version, and no model file hashed again.</summary>
[Trait("Category", "Slow")]
public sealed class RebuildTests : EndToEndTest
{
    [Fact]
    public async Task Rebuild_AfterEditingOnlyTheBentofile_MakesANewVersion_WithoutHashing()
    {
        var model = CopyExample();
        var first = await Bento("build", model);
        var tag1 = Cli.AssertTag(first, "tiny-llama");
        Assert.DoesNotContain("(0 hashed", first.Stderr);
        var blobs = Store.Blobs().Select(Path.GetFileName).Order().ToList();

        var bentofile = Path.Combine(model, "bentofile.yaml");
        var text = File.ReadAllText(bentofile);
        Assert.Contains("\nlabels:\n", text); // the top-level labels (docker has its own, indented)
        File.WriteAllText(bentofile, text.Replace("\nlabels:\n", "\nlabels:\n  team: e2e\n", StringComparison.Ordinal));

        var second = await Bento("build", model);
        var tag2 = Cli.AssertTag(second, "tiny-llama");
        Assert.NotEqual(tag1, tag2);
        Assert.Contains("0 hashed", second.Stderr);
        Assert.Contains($"Built {tag2}", second.Stderr);

        Assert.Equal("e2e", (string?)(await JsonAsync(null, "get", tag2, "-o", "json"))["labels"]!["team"]);
        Assert.Null((await JsonAsync(null, "get", tag1, "-o", "json"))["labels"]!["team"]);
        var list = Assert.IsType<JsonArray>(await JsonAsync(null, "list", "tiny-llama", "-o", "json"));
        Assert.Equal(2, list.Count);
        Assert.Equal(tag2, (string?)Assert.Single(list, e => (bool)e!["latest"]!)!["tag"]);
        Assert.Equal(blobs, Store.Blobs().Select(Path.GetFileName).Order().ToList()); // same model: no new blob
    }
}
