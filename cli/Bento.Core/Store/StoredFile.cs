using Bento.Core.IO;

namespace Bento.Core.Store;

/// <summary>What every file in the store must be: a regular file holding the bytes, never a symbolic link.</summary>
public static class StoredFile
{
    /// <summary>
    /// Why <paramref name="path"/> is not acceptable as a stored file because it is a symbolic link (stores written
    /// before links were resolved hold them: they dangle once the original is deleted); null when it is not a link.
    /// </summary>
    public static string? LinkProblem(string path)
    {
        if (!Posix.IsSymbolicLink(path)) return null;
        string target;
        try { target = File.ResolveLinkTarget(path, returnFinalTarget: false)?.FullName ?? "?"; }
        catch (IOException) { target = "?"; }
        return $"a symbolic link to {target}, not a stored copy (it breaks when its target goes; rebuild or re-import to store the bytes)";
    }
}
