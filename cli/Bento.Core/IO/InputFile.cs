namespace Bento.Core.IO;

/// <summary>
/// The one way BentoBuilder reads a file it was given: only regular files (a FIFO blocks forever, /dev/zero never
/// ends, and a symbolic link may point at either), and, for files read whole, only up to an <see cref="InputLimit"/>
/// checked before a byte is read.
/// </summary>
public static class InputFile
{
    /// <summary>
    /// Throws unless <paramref name="path"/> (following symbolic links) is a regular file. <paramref name="hint"/>
    /// says what to do instead, e.g. "remove it or add it to exclude".
    /// </summary>
    public static void RequireRegular(string path, string hint = "replace it with a regular file")
    {
        switch (Posix.KindOf(path))
        {
            case FileKind.Regular:
                return;
            case FileKind.Directory:
                throw new BentoException($"{Spec.BentofileParser.DisplayPath(path)}: is a directory, expected a regular file");
            case FileKind.Special:
                throw new BentoException($"{Spec.BentofileParser.DisplayPath(path)}: not a regular file (a FIFO, device or socket, " +
                                         $"or a symbolic link to one), which is never read; {hint}");
            default:
                throw new BentoException($"{Spec.BentofileParser.DisplayPath(path)}: no such file");
        }
    }

    /// <summary>
    /// Reads a regular file whole, refusing one larger than <paramref name="limit"/>; <paramref name="what"/> names
    /// the kind of file in the message ("tokenizer.json").
    /// </summary>
    public static byte[] ReadAllBytes(string path, InputLimit limit, string what)
    {
        RequireRegular(path);
        try
        {
            using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1);
            var length = file.Length;
            if (length > limit.Value) throw TooLarge(path, length, limit, what);
            // Read at most one byte past the measured length: a file that grows (or is swapped) meanwhile is refused
            // rather than followed.
            var buffer = new byte[length];
            var total = file.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
            if (file.Read(stackalloc byte[1]) > 0) throw TooLarge(path, length + 1, limit, what);
            return total == length ? buffer : buffer[..total];
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new BentoException($"{Spec.BentofileParser.DisplayPath(path)}: cannot read: {e.Message}", e);
        }
    }

    /// <summary><see cref="ReadAllBytes"/> decoded as UTF-8 (a byte order mark is dropped; invalid UTF-8 is an error, see <see cref="Utf8Text"/>).</summary>
    public static string ReadAllText(string path, InputLimit limit, string what) =>
        Utf8Text.Decode(ReadAllBytes(path, limit, what), Spec.BentofileParser.DisplayPath(path));

    public static BentoException TooLarge(string path, long size, InputLimit limit, string what) =>
        new($"{Spec.BentofileParser.DisplayPath(path)}: {InputLimits.Bytes(size)} ({size} bytes) exceeds the {limit.Size} limit for {what}; " +
            $"{limit.RaiseHint} if the file is genuine");
}
