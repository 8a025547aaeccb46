using Bento.Core.IO;
using Bento.Core.Manifest;

namespace Bento.Core.Archive;

/// <summary>Where <c>bento export TAG DEST</c> writes, as the user meant it.</summary>
public abstract record ExportDestination
{
    /// <summary>Standard output (<c>-</c>, <c>/dev/stdout</c>, <c>/dev/fd/1</c>): for pipes to ssh, zstd, aws s3 cp.</summary>
    public sealed record StandardOutput : ExportDestination;

    /// <summary>Something that exists and is not a regular file or directory (a FIFO, <c>/dev/fd/N</c> from process substitution): written in place.</summary>
    public sealed record Special(string Path) : ExportDestination;

    /// <summary>A file, written through a temp file and renamed into place.</summary>
    public sealed record File(string Path) : ExportDestination;

    /// <summary>
    /// <c>-</c> and <c>/dev/stdout</c> mean stdout; an existing directory or a path ending in '/' gets
    /// <c>NAME-VERSION.bento</c> inside it; anything else is a file name, with <c>.bento</c> appended when missing.
    /// </summary>
    public static ExportDestination Resolve(string argument, BentoManifest manifest)
    {
        if (argument.Length == 0) throw new UsageException("the export destination is empty: give a file, a directory, or '-' for stdout");
        if (argument is "-" or "/dev/stdout" or "/dev/fd/1" or "/proc/self/fd/1") return new StandardOutput();
        var defaultName = $"{manifest.Name}-{manifest.Version}{BentoArchive.Extension}";
        if (argument.EndsWith('/'))
        {
            if (System.IO.File.Exists(argument.TrimEnd('/')))
                throw new BentoException($"cannot export to '{argument}': '{argument.TrimEnd('/')}' is a file, not a directory");
            return new File(System.IO.Path.Combine(argument, defaultName));
        }
        switch (Posix.KindOf(argument))
        {
            case FileKind.Directory: return new File(System.IO.Path.Combine(argument, defaultName));
            case FileKind.Special: return new Special(argument);
        }
        return new File(argument.EndsWith(BentoArchive.Extension, StringComparison.Ordinal) ? argument : argument + BentoArchive.Extension);
    }
}
