using Bento.EndToEnd.Tests.Infrastructure;

namespace Bento.EndToEnd.Tests;

/// <summary><c>bento delete TAG [-y]</c>.</summary>
[Trait("Category", "Slow")]
public sealed class DeleteTests : EndToEndTest
{
    [Fact]
    public async Task Delete_WithYes_RemovesTheBentoAndItsBlobs_ButNotTheSourceFiles()
    {
        var model = CopyExample();
        var sourceHashes = Directory.GetFiles(model).ToDictionary(f => f, Sha256Of);
        var tag = await BuildAsync(model, "tiny-llama");
        Assert.NotEmpty(Store.Blobs());

        var r = await Bento("delete", tag, "-y");

        Cli.AssertSuccess(r);
        Assert.Contains($"Deleted {tag}", r.Stderr);
        await AssertStoreHoldsNoBentoAsync();
        Assert.Empty(Store.Blobs());
        Cli.AssertError(await Bento("get", tag), 1, "not found");
        // The blobs were hard links of the model's files: the model itself must be intact.
        foreach (var (file, sha) in sourceHashes) Assert.Equal(sha, Sha256Of(file));
    }

    [Fact]
    public async Task Delete_WithoutYes_AndStdinNotATerminal_RefusesAndKeepsTheBento()
    {
        var tag = await BuildAsync(CopyExample(), "tiny-llama");
        var snapshot = Store.Snapshot();

        Cli.AssertError(await Bento("delete", tag), 2, "-y");

        Assert.Equal(snapshot, Store.Snapshot());
        Cli.AssertSuccess(await Bento("get", tag));
        Cli.AssertSuccess(await Bento("verify", tag));
    }
}
