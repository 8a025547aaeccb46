namespace Bento.Core.IO;

/// <summary>
/// Where the bytes of a file in a folder BentoBuilder was given (the model folder, the build folder) really are, and
/// whether it may take them. A symbolic link is resolved to its target, and the target is what gets hashed and
/// hard-linked or copied into the store (a link itself is never stored: it would dangle once moved, or point outside
/// the store). A link whose target is outside the folder is refused unless the user said so
/// (<see cref="FollowFlag"/>): a build folder linking to ~/.ssh/id_rsa must not be packed and published silently.
/// </summary>
/// <remarks>
/// A Hugging Face cache snapshot (<c>hub/models--ORG--NAME/snapshots/REV/</c>) holds nothing but relative links into
/// the repository's <c>blobs/</c> folder; pointing <c>model:</c> at a snapshot is the usual way to build from a
/// downloaded model, so links from a snapshot into its own repository's <c>blobs/</c> count as inside.
/// </remarks>
public sealed class SymlinkPolicy
{
    /// <summary>The <c>bento build</c> option that lets links leave their folder.</summary>
    public const string FollowFlag = "--follow-external-symlinks";

    private readonly string _folder;
    private readonly string _realFolder;
    private readonly string? _cacheBlobs;
    private readonly string _role;
    private readonly bool _followExternal;

    /// <param name="folder">The folder as the user gave it (itself possibly reached through links, which is fine).</param>
    /// <param name="role">What the folder is, for messages: "model folder", "build folder".</param>
    /// <param name="followExternal">Take targets outside the folder too (the user passed <see cref="FollowFlag"/>).</param>
    public SymlinkPolicy(string folder, string role, bool followExternal)
    {
        _folder = Path.GetFullPath(folder);
        _role = role;
        _followExternal = followExternal;
        try { _realFolder = Posix.RealPath(_folder); }
        catch (IOException e) { throw new BentoException($"{role} '{Spec.BentofileParser.DisplayPath(_folder)}': {e.Message}"); }
        _cacheBlobs = HuggingFaceCacheBlobs(_realFolder);
    }

    /// <summary>The Hugging Face cache's blobs/ folder this snapshot links into, when the folder is (inside) a snapshot.</summary>
    public string? CacheBlobs => _cacheBlobs;

    /// <summary>
    /// The real path of <paramref name="path"/> (a file in the folder): the file itself when no link is involved,
    /// else the final target. Throws, naming the link and its target, when the target leaves the folder and
    /// following was not allowed, or when the link is broken or loops.
    /// </summary>
    public string Resolve(string path)
    {
        var display = Spec.BentofileParser.DisplayPath(path);
        string real;
        try { real = Posix.RealPath(path); }
        catch (IOException e) when (e.HResult == 2)
        {
            throw new BentoException($"{display}: broken symbolic link (its target does not exist); fix or remove it");
        }
        catch (IOException e)
        {
            throw new BentoException($"{display}: {e.Message}");
        }
        if (IsUnder(real, _realFolder) || _cacheBlobs is not null && IsUnder(real, _cacheBlobs) || _followExternal) return real;
        throw new BentoException(
            $"{display}: symbolic link to {real}, which is outside the {_role} {Spec.BentofileParser.DisplayPath(_folder)}; " +
            $"copy the file into the folder, or build with {FollowFlag} to store the file it points to");
    }

    private static bool IsUnder(string path, string folder) =>
        path.StartsWith(folder.EndsWith('/') ? folder : folder + "/", StringComparison.Ordinal);

    /// <summary>
    /// <c>…/models--ORG--NAME/blobs</c> when <paramref name="realFolder"/> is <c>…/models--ORG--NAME/snapshots/REV</c>
    /// (or a folder inside it) and that blobs/ exists; else null.
    /// </summary>
    private static string? HuggingFaceCacheBlobs(string realFolder)
    {
        for (var dir = realFolder; Path.GetDirectoryName(dir) is { } parent; dir = parent)
        {
            if (Path.GetFileName(parent) != "snapshots") continue;
            var repository = Path.GetDirectoryName(parent);
            if (repository is null) return null;
            var blobs = Path.Combine(repository, "blobs");
            if (!Directory.Exists(blobs)) return null;
            try { return Posix.RealPath(blobs); }
            catch (IOException) { return null; }
        }
        return null;
    }
}
