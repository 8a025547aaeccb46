using Bento.Core.IO;
using Bento.Core.Manifest;

namespace Bento.Core.Store;

/// <summary>One thing <c>bento verify</c> found wrong.</summary>
public sealed record VerifyProblem(string Tag, string Path, string Problem)
{
    public override string ToString() => $"{Tag}: {Path}: {Problem}";
}

/// <summary>
/// Re-hashes bentos in the store: every file's size and sha256 against the manifest, the manifest against its own
/// version, and each file's blob. Files sharing an inode (hard links) are hashed once.
/// </summary>
public sealed class StoreVerifier
{
    private readonly BentoStore _store;

    public StoreVerifier(BentoStore store) => _store = store;

    public async Task<IReadOnlyList<VerifyProblem>> VerifyAsync(IEnumerable<StoredBento> bentos, Action<string>? onChecked = null, CancellationToken ct = default)
    {
        var problems = new List<VerifyProblem>();
        var hashed = new Dictionary<(ulong, ulong), string>();
        foreach (var bento in bentos)
        {
            var tag = bento.Tag;
            if (!ManifestVersion.Matches(bento.Manifest))
                problems.Add(new VerifyProblem(tag, BentoManifest.FileName, $"content does not match version {bento.Manifest.Version} (manifest altered)"));
            foreach (var (bentoPath, file) in bento.Manifest.AllFiles())
            {
                ct.ThrowIfCancellationRequested();
                foreach (var (label, path) in new[] { (bentoPath, bento.FilePath(bentoPath)), ($"blob {file.Sha256[..12]} of {bentoPath}", _store.BlobPath(file.Sha256)) })
                {
                    var problem = await CheckAsync(path, file, hashed, ct);
                    if (problem is not null) problems.Add(new VerifyProblem(tag, label, problem));
                }
            }
            onChecked?.Invoke(tag);
        }
        return problems;
    }

    private static async Task<string?> CheckAsync(string path, ManifestFile file, Dictionary<(ulong, ulong), string> hashed, CancellationToken ct)
    {
        if (StoredFile.LinkProblem(path) is { } link) return link;
        if (!File.Exists(path)) return "missing";
        var id = Posix.Identify(path);
        if (id.Size != file.Size) return $"size {id.Size}, expected {file.Size} (corrupt)";
        if (!hashed.TryGetValue((id.Device, id.Inode), out var sha))
        {
            sha = await FileHasher.HashAsync(path, ct: ct);
            hashed[(id.Device, id.Inode)] = sha;
        }
        return sha == file.Sha256 ? null : $"sha256 {sha[..12]}…, expected {file.Sha256[..12]}… (corrupt; if the model's source file was edited in place, rebuild)";
    }
}
