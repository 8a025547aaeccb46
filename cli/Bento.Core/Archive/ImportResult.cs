using Bento.Core.Store;

namespace Bento.Core.Archive;

/// <summary>What an import did: the stored bento, whether it was new, and how many damaged files it repaired.</summary>
public sealed record ImportResult(StoredBento Bento, bool Created, int Repaired)
{
    public void Deconstruct(out StoredBento bento, out bool created) => (bento, created) = (Bento, Created);
}
