namespace Bento.Core.Store;

/// <summary>
/// What the tags and filters users type mean for several bentos at once (BentoML's meanings): for
/// <c>bento delete</c>, <c>NAME</c> is every version of NAME while <c>NAME:latest</c> and <c>NAME:VERSION</c> are one;
/// for <c>bento list</c>, a bare word is a name prefix; and the tags shell completion offers.
/// </summary>
public static class BentoSelector
{
    /// <summary>
    /// The bentos <paramref name="tags"/> name, each once, in the order given. Every tag must match something (the
    /// error names the first that does not), so a typo deletes nothing rather than the rest.
    /// </summary>
    public static IReadOnlyList<StoredBento> ForDelete(BentoStore store, IEnumerable<BentoTag> tags)
    {
        var selected = new List<StoredBento>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var tag in tags)
        {
            var matches = tag.Version is null
                ? store.List().Where(b => b.Manifest.Name == tag.Name).OrderByDescending(b => b.Manifest.Created).ToList()
                : [];
            if (matches.Count == 0) matches.Add(store.Resolve(tag)); // throws "not found" with a hint
            foreach (var bento in matches)
                if (seen.Add(bento.Tag)) selected.Add(bento);
        }
        return selected;
    }

    /// <summary>
    /// <c>bento list FILTER</c>: no filter lists everything; <c>NAME:latest</c> the latest of NAME; <c>NAME:VERSION</c>
    /// the versions of NAME starting with VERSION; a bare word every bento whose name starts with it.
    /// </summary>
    public static IEnumerable<StoredBento> ForList(BentoStore store, string? filter)
    {
        if (filter is null) return store.List();
        var tag = BentoTag.Parse(filter); // the same character rules as tags, so a typo like 'Bad!' is reported
        if (tag.Version is null) return store.List().Where(b => b.Manifest.Name.StartsWith(tag.Name, StringComparison.Ordinal));
        var ofName = store.List().Where(b => b.Manifest.Name == tag.Name).ToList();
        if (tag.Version == "latest")
        {
            if (ofName.Count == 0) return [];
            var latest = store.Resolve(tag).Manifest.Version;
            return ofName.Where(b => b.Manifest.Version == latest);
        }
        return ofName.Where(b => b.Manifest.Version.StartsWith(tag.Version, StringComparison.Ordinal));
    }

    /// <summary>Every name, <c>NAME:latest</c> and <c>NAME:VERSION</c> in the store, for shell completion.</summary>
    public static IEnumerable<string> CompletionTags(BentoStore store)
    {
        var tags = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var bento in store.List())
        {
            tags.Add(bento.Manifest.Name);
            tags.Add($"{bento.Manifest.Name}:latest");
            tags.Add(bento.Tag);
        }
        return tags;
    }
}
