using System.Text.Json.Nodes;
using Bento.EndToEnd.Tests.Infrastructure;

namespace Bento.EndToEnd.Tests;

/// <summary><c>bento list [NAME] [-o table|json|yaml]</c>.</summary>
[Trait("Category", "Slow")]
public sealed class ListTests : EndToEndTest
{
    [Fact]
    public async Task List_OnAnEmptyStore_Succeeds_InEveryFormat()
    {
        var table = await Bento("list");
        Cli.AssertSuccess(table);
        Assert.DoesNotContain("tiny-llama", table.Stdout);

        var json = await JsonAsync(null, "list", "-o", "json");
        Assert.Empty(Assert.IsType<JsonArray>(json));

        var yaml = await Bento("list", "-o", "yaml");
        Cli.AssertSuccess(yaml);
        Assert.DoesNotContain("tag:", yaml.Stdout);
    }

    [Fact]
    public async Task List_ShowsTheBuiltBento_InEveryFormat()
    {
        var tag = await BuildAsync(CopyExample(), "tiny-llama");
        var version = tag.Split(':')[1];

        var table = await Bento("list");
        Cli.AssertSuccess(table);
        Assert.StartsWith("TAG", table.StdoutLines[0]);
        var row = Assert.Single(table.StdoutLines, l => l.StartsWith(tag, StringComparison.Ordinal));
        Assert.Contains("(latest)", row);
        Assert.Contains("LlamaForCausalLM", row);

        var json = Assert.IsType<JsonArray>(await JsonAsync(null, "list", "-o", "json"));
        var entry = Assert.Single(json)!.AsObject();
        Assert.Equal(tag, (string?)entry["tag"]);
        Assert.Equal("tiny-llama", (string?)entry["name"]);
        Assert.Equal(version, (string?)entry["version"]);
        Assert.True((bool)entry["latest"]!);
        Assert.True((long)entry["size"]! > 1 << 20);
        Assert.Equal("bentobuilder", (string?)entry["labels"]?["owner"]);

        var yaml = await Bento("list", "-o", "yaml");
        Cli.AssertSuccess(yaml);
        Assert.Contains(yaml.StdoutLines, l => l.Replace("\"", "") == $"- tag: {tag}");
        Assert.Contains(yaml.StdoutLines, l => l.Trim() == "name: tiny-llama");

        // The NAME filter: its own bentos only.
        Assert.Single(Assert.IsType<JsonArray>(await JsonAsync(null, "list", "tiny-llama", "-o", "json")));
        Assert.Empty(Assert.IsType<JsonArray>(await JsonAsync(null, "list", "other-model", "-o", "json")));
    }
}
