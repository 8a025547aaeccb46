namespace Bento.Core;

/// <summary>Paths that stay inside the directory they are joined to: relative, '/'-separated, no '.', '..' or empty parts.</summary>
public static class SafeRelativePath
{
    public static bool IsSafe(string path)
    {
        if (string.IsNullOrEmpty(path) || path.StartsWith('/') || path.Contains('\\') || path.Contains('\0')) return false;
        foreach (var part in path.Split('/'))
            if (part is "" or "." or "..") return false;
        return true;
    }
}
