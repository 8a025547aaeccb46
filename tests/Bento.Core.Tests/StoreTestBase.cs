using Bento.Core.Build;
using Bento.Core.Store;

namespace Bento.Core.Tests;

/// <summary>A fresh store and scratch directory per test.</summary>
public abstract class StoreTestBase : IDisposable
{
    protected StoreTestBase()
    {
        Temp = new TempDirectory();
        Store = new BentoStore(Temp.Combine("store"));
    }

    protected TempDirectory Temp { get; }
    protected BentoStore Store { get; }

    protected Task<BuildResult> BuildAsync(string directory) =>
        new BentoBuilder(Store).BuildAsync(Path.Combine(directory, "bentofile.yaml"));

    /// <summary>Builds <paramref name="directory"/> expecting a refusal: a BentoException that is not an internal error,
    /// with the store untouched. Returns the message.</summary>
    protected async Task<string> BuildRefusedAsync(string directory)
    {
        var e = await Assert.ThrowsAsync<BentoException>(() => BuildAsync(directory));
        Assert.Empty(StoreContents());
        Assert.DoesNotContain("internal error", e.Message);
        return e.Message;
    }

    /// <summary>Every file under the store except the lock and hash cache, for "the store is untouched" checks.</summary>
    protected IReadOnlyList<string> StoreContents() =>
        !Directory.Exists(Store.Root) ? [] :
        Directory.EnumerateFileSystemEntries(Store.Root, "*", SearchOption.AllDirectories)
            .Select(p => Path.GetRelativePath(Store.Root, p))
            .Where(p => p is not (".lock" or "cache" or "cache/hashes.json" or "cache/hashes.json.lock" or "tmp" or "blobs" or "blobs/sha256" or "bentos"))
            .Order(StringComparer.Ordinal).ToList();

    public void Dispose()
    {
        GC.SuppressFinalize(this);
        Temp.Dispose();
    }
}
