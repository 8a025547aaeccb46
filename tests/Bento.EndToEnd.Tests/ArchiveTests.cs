using System.Text.Json.Nodes;
using Bento.EndToEnd.Tests.Infrastructure;

namespace Bento.EndToEnd.Tests;

/// <summary><c>bento export</c> and <c>bento import</c>: round trips, and damaged archives that must change nothing.</summary>
[Trait("Category", "Slow")]
public sealed class ArchiveTests : EndToEndTest
{
    /// <summary>Builds the example copy and exports it; returns the tag and the archive's path.</summary>
    private async Task<(string Tag, string Archive)> BuildAndExportAsync()
    {
        var tag = await BuildAsync(CopyExample(), "tiny-llama");
        var export = await Bento("export", tag, Temp.Combine("exported")); // ".bento" is appended
        Cli.AssertSuccess(export);
        var archive = Temp.Combine("exported.bento");
        Assert.Equal(archive, export.LastStdoutLine);
        Assert.True(new FileInfo(archive).Length > 0);
        return (tag, archive);
    }

    private static string ModelFilesOf(JsonNode manifest) => manifest["model"]!["files"]!.ToJsonString();

    [Fact]
    public async Task ExportDeleteImport_RoundTrip_KeepsTheTag_AndVerifies()
    {
        var (tag, archive) = await BuildAndExportAsync();
        var before = await JsonAsync(null, "get", tag, "-o", "json");

        Cli.AssertSuccess(await Bento("delete", tag, "-y"));
        await AssertStoreHoldsNoBentoAsync();

        var import = await Bento("import", archive);
        Assert.Equal(tag, Cli.AssertTag(import, "tiny-llama"));
        var after = await JsonAsync(null, "get", tag, "-o", "json");
        Assert.Equal(ModelFilesOf(before), ModelFilesOf(after));
        Assert.Equal((string?)before["created"], (string?)after["created"]);

        var verify = await Bento("verify");
        Cli.AssertSuccess(verify);
        Assert.Equal("OK 1 bento(s) verified", verify.LastStdoutLine);
        Assert.Empty(Store.TmpEntries());

        // Importing it again is a no-op.
        var again = await Bento("import", archive);
        Assert.Equal(tag, Cli.AssertTag(again, "tiny-llama"));
        Assert.Contains("already in the store", again.Stderr);
        Assert.Single(Store.BentoDirectories());
    }

    [Fact]
    public async Task Import_IntoASecondFreshStore_Works()
    {
        var (tag, archive) = await BuildAndExportAsync();
        var other = Temp.Combine("other-home");

        Assert.Equal(tag, Cli.AssertTag(await BentoIn(other, "import", archive), "tiny-llama"));

        var list = Assert.IsType<JsonArray>(await JsonAsync(other, "list", "-o", "json"));
        Assert.Equal(tag, (string?)Assert.Single(list)!["tag"]);
        var verify = await BentoIn(other, "verify", tag);
        Cli.AssertSuccess(verify);
        Assert.StartsWith("OK", verify.LastStdoutLine);
        Assert.Equal(
            ModelFilesOf(await JsonAsync(null, "get", tag, "-o", "json")),
            ModelFilesOf(await JsonAsync(other, "get", tag, "-o", "json")));
        // The second store holds the same blobs as the first.
        var otherStore = new StoreInspector(other);
        Assert.Equal(Store.Blobs().Select(Path.GetFileName).Order(), otherStore.Blobs().Select(Path.GetFileName).Order());
    }

    [Fact]
    public async Task Import_OfATruncatedArchive_FailsAndLeavesTheStoreUntouched()
    {
        var (tag, archive) = await BuildAndExportAsync();
        var bytes = File.ReadAllBytes(archive);
        var truncated = Temp.Combine("truncated.bento");
        File.WriteAllBytes(truncated, bytes[..(bytes.Length / 2)]);

        // Into the store that holds the bento: nothing changes, and the bento is still intact.
        var snapshot = Store.Snapshot();
        Cli.AssertError(await Bento("import", truncated), 1, "truncated.bento", "nothing was imported");
        Assert.Equal(snapshot, Store.Snapshot());
        Cli.AssertSuccess(await Bento("verify", tag));

        // Into a fresh store: no bento, no blob, no leftovers.
        var fresh = Temp.Combine("fresh-home");
        Cli.AssertError(await BentoIn(fresh, "import", truncated), 1, "truncated.bento", "nothing was imported");
        await AssertStoreHoldsNoBentoAsync(fresh);
    }

    [Fact]
    public async Task Export_IntoAMissingDirectory_FailsWithoutLeavingAFile()
    {
        var tag = await BuildAsync(CopyExample(), "tiny-llama");
        var target = Temp.Combine("no-such-dir", "out.bento");

        Cli.AssertError(await Bento("export", tag, target), 1, "does not exist");

        Assert.False(Directory.Exists(Temp.Combine("no-such-dir")));
        Assert.Empty(Directory.GetFileSystemEntries(Work));
    }

    [Theory]
    [InlineData(16)]
    [InlineData(4096)]
    public async Task Import_OfAnArchiveWithAFlippedByteNearTheEnd_Fails(int offsetFromEnd)
    {
        var (_, archive) = await BuildAndExportAsync();
        var bytes = File.ReadAllBytes(archive);
        bytes[^offsetFromEnd] ^= 0xFF;
        var damaged = Temp.Combine("damaged.bento");
        File.WriteAllBytes(damaged, bytes);

        var fresh = Temp.Combine("fresh-home");
        Cli.AssertError(await BentoIn(fresh, "import", damaged), 1, "damaged.bento", "nothing was imported");
        await AssertStoreHoldsNoBentoAsync(fresh);
    }
}
