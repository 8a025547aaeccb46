namespace Bento.EndToEnd.Tests.Infrastructure;

/// <summary>Looks at a store directory from the outside (layout documented in cli/Bento.Core/Store/BentoStore.cs).</summary>
public sealed class StoreInspector
{
    public StoreInspector(string home) => Home = home;

    public string Home { get; }
    public string BlobsDirectory => Path.Combine(Home, "blobs", "sha256");
    public string BentosDirectory => Path.Combine(Home, "bentos");
    public string TmpDirectory => Path.Combine(Home, "tmp");

    public string[] Blobs() => Directory.Exists(BlobsDirectory) ? Directory.GetFiles(BlobsDirectory) : [];

    /// <summary>Every directory below bentos/NAME/ (committed or debris alike).</summary>
    public string[] BentoDirectories() =>
        Directory.Exists(BentosDirectory) ? Directory.GetDirectories(BentosDirectory).SelectMany(Directory.GetDirectories).ToArray() : [];

    /// <summary>Anything under tmp/ (work in progress a finished command must not leave behind).</summary>
    public string[] TmpEntries() => Directory.Exists(TmpDirectory) ? Directory.GetFileSystemEntries(TmpDirectory) : [];

    /// <summary>Every file of the store, relative, with its size — except the lock file and the hash cache.</summary>
    public string[] Snapshot()
    {
        if (!Directory.Exists(Home)) return [];
        return Directory.EnumerateFileSystemEntries(Home, "*", SearchOption.AllDirectories)
            .Select(p => Path.GetRelativePath(Home, p))
            .Where(r => r != ".lock" && r != "cache" && !r.StartsWith("cache/", StringComparison.Ordinal))
            .Select(r => File.Exists(Path.Combine(Home, r)) ? $"{r} ({new FileInfo(Path.Combine(Home, r)).Length} bytes)" : r + "/")
            .Order(StringComparer.Ordinal).ToArray();
    }
}
