namespace Bento.Core.IO;

/// <summary>
/// The file behind a symbolic link. Model folders often hold links (a Hugging Face cache snapshot links every file to
/// a blob), and what matters — identity, size, content — is the target's.
/// </summary>
public static class FileLinks
{
    /// <summary>The final target of <paramref name="path"/> if it is a link to a file, else the file itself.</summary>
    public static FileInfo Target(string path)
    {
        var info = new FileInfo(path);
        return info.LinkTarget is null ? info : info.ResolveLinkTarget(returnFinalTarget: true) as FileInfo ?? info;
    }
}
