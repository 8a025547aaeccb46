using Bento.Core.Manifest;

namespace Bento.Core.Store;

/// <summary>A bento as it lies in the store: its manifest and its directory.</summary>
public sealed record StoredBento(BentoManifest Manifest, string Directory)
{
    public string Tag => Manifest.Tag;

    public string FilePath(string bentoPath) => Path.Combine(Directory, bentoPath);
}
