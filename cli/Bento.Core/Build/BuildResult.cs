using Bento.Core.Manifest;
using Bento.Core.Store;

namespace Bento.Core.Build;

/// <summary>
/// The outcome of a build: the bento, whether it was new, how much work the hash cache saved, and how many damaged
/// files of an already stored copy it repaired.
/// </summary>
public sealed record BuildResult(StoredBento Bento, bool Created, int FilesHashed, int FilesFromCache, IReadOnlyDictionary<IngestMethod, int> Ingest, int Repaired = 0)
{
    public BentoManifest Manifest => Bento.Manifest;
}
