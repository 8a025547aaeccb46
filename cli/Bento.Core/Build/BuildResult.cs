using Bento.Core.Manifest;
using Bento.Core.Store;

namespace Bento.Core.Build;

/// <summary>The outcome of a build: the bento, whether it was new, and how much work the hash cache saved.</summary>
public sealed record BuildResult(StoredBento Bento, bool Created, int FilesHashed, int FilesFromCache, IReadOnlyDictionary<IngestMethod, int> Ingest)
{
    public BentoManifest Manifest => Bento.Manifest;
}
