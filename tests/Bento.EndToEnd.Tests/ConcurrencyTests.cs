using System.Text.Json.Nodes;
using Bento.EndToEnd.Tests.Infrastructure;

namespace Bento.EndToEnd.Tests;

/// <summary>Two builds of the same folder into the same store at the same time.</summary>
[Trait("Category", "Slow")]
public sealed class ConcurrencyTests : EndToEndTest
{
    [Fact]
    public async Task TwoSimultaneousBuilds_OfTheSameFolder_AgreeOnOneBento()
    {
        var model = await Models.CopyGeneratedAsync(Temp.Combine("model"));
        File.WriteAllText(Path.Combine(model, "bentofile.yaml"), "name: concurrent\nlabels:\n  case: race\n");

        var first = Bento("build", model);
        var second = Bento("build", model);
        var results = await Task.WhenAll(first, second);

        var tags = results.Select(r => Cli.AssertTag(r, "concurrent")).ToArray();
        Assert.Equal(tags[0], tags[1]);
        foreach (var r in results) Cli.AssertNoStackTrace(r);

        var list = Assert.IsType<JsonArray>(await JsonAsync(null, "list", "-o", "json"));
        Assert.Equal(tags[0], (string?)Assert.Single(list)!["tag"]);
        Assert.Single(Store.BentoDirectories());
        Assert.Empty(Store.TmpEntries());

        var manifest = await JsonAsync(null, "get", tags[0], "-o", "json");
        var expectedBlobs = manifest["model"]!["files"]!.AsArray().Concat(manifest["files"]!.AsArray())
            .Select(f => (string)f!["sha256"]!).ToHashSet();
        Assert.Equal(expectedBlobs.Order(), Store.Blobs().Select(b => Path.GetFileName(b)!).Order());

        var verify = await Bento("verify");
        Cli.AssertSuccess(verify);
        Assert.Equal("OK 1 bento(s) verified", verify.LastStdoutLine);
    }
}
