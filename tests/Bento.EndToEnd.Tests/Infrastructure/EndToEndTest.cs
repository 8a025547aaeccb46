using System.Security.Cryptography;
using System.Text.Json.Nodes;

namespace Bento.EndToEnd.Tests.Infrastructure;

/// <summary>
/// Base of every end-to-end test: its own temp directory with a BENTO_HOME ("home", not created up front) and a
/// working directory ("work") outside the repository.
/// </summary>
public abstract class EndToEndTest : IDisposable
{
    protected EndToEndTest()
    {
        BentoCli.EnsureBuilt();
        Temp = new TempDirectory();
        Home = Temp.Combine("home");
        Work = Temp.CreateDirectory("work");
        Store = new StoreInspector(Home);
    }

    protected TempDirectory Temp { get; }
    protected string Home { get; }
    protected string Work { get; }
    protected StoreInspector Store { get; }

    /// <summary>Runs <c>./bento ARGS</c> against this test's store, from its working directory.</summary>
    protected Task<ProcessResult> Bento(params string[] args) => BentoIn(Home, args);

    protected Task<ProcessResult> BentoIn(string home, params string[] args) =>
        BentoCli.RunAsync(args, new CliOptions { Home = home, WorkingDirectory = Work });

    /// <summary>A build that must succeed; returns the tag.</summary>
    protected async Task<string> BuildAsync(string directory, string name, string? home = null) =>
        Cli.AssertTag(await BentoIn(home ?? Home, "build", directory), name);

    /// <summary>Copies examples/tiny-llama into this test's directory (so the repository's example is never touched).</summary>
    protected string CopyExample(string sub = "tiny-llama") => Models.CopyExample(Temp.Combine(sub));

    /// <summary>Runs a command that must succeed and parses its stdout as JSON.</summary>
    protected async Task<JsonNode> JsonAsync(string? home, params string[] args)
    {
        var r = await BentoIn(home ?? Home, args);
        Cli.AssertSuccess(r);
        try { return JsonNode.Parse(r.Stdout) ?? throw new InvalidOperationException("null JSON"); }
        catch (System.Text.Json.JsonException e) { throw new Xunit.Sdk.XunitException($"stdout is not JSON ({e.Message}):\n{r}"); }
    }

    /// <summary>The store holds no bento (<c>bento list -o json</c> is <c>[]</c>) and no blob, and tmp/ is empty.</summary>
    protected async Task AssertStoreHoldsNoBentoAsync(string? home = null)
    {
        var list = await JsonAsync(home, "list", "-o", "json");
        Assert.True(list is JsonArray { Count: 0 }, $"bento list -o json should be [] but is {list.ToJsonString()}");
        var store = new StoreInspector(home ?? Home);
        Assert.Empty(store.BentoDirectories());
        Assert.Empty(store.Blobs());
        Assert.Empty(store.TmpEntries());
    }

    protected static string Sha256Of(string path) => Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(path)));

    public virtual void Dispose()
    {
        Temp.Dispose();
        GC.SuppressFinalize(this);
    }
}
