using System.Security.Cryptography;
using Bento.Core.Tar;

namespace Bento.Images.Layers;

public enum LayerEntryKind
{
    Directory,
    File,
    Symlink,
}

/// <summary>
/// One path in a layer. Only what the image needs is expressible: a directory, a regular file (from disk, with its
/// content hash, or from memory), or a symbolic link. Owner (0:0), names, times and modes are not: the
/// <see cref="LayerTar"/> writer decides them, so no caller can make a layer non-reproducible.
/// </summary>
public sealed record LayerEntry
{
    private LayerEntry(string path, LayerEntryKind kind)
    {
        Path = path;
        Kind = kind;
    }

    /// <summary>Relative, '/'-separated, no leading or trailing '/', no '.' or '..' components.</summary>
    public string Path { get; }

    public LayerEntryKind Kind { get; }

    /// <summary>Files only: mode 0755 instead of 0644.</summary>
    public bool Executable { get; private init; }

    /// <summary>Files from disk: where the bytes come from (streamed, never loaded whole).</summary>
    public string? SourceFile { get; private init; }

    /// <summary>Files from memory.</summary>
    public byte[]? Content { get; private init; }

    public long Size { get; private init; }

    /// <summary>Files: sha256 (hex) of the content; part of the layer's identity in the cache.</summary>
    public string? Sha256 { get; private init; }

    public string? LinkTarget { get; private init; }

    /// <summary>The tar mode bits: 0755 for directories and executables, 0644 for other files, 0777 for links.</summary>
    public int Mode => Kind switch
    {
        LayerEntryKind.Directory => DeterministicTarWriter.DirectoryMode,
        LayerEntryKind.Symlink => DeterministicTarWriter.LinkMode,
        _ => Executable ? DeterministicTarWriter.ExecutableMode : DeterministicTarWriter.FileMode,
    };

    public static LayerEntry Directory(string path) => new(path, LayerEntryKind.Directory);

    /// <param name="sha256">Hex sha256 of the file as it must be (from the bento manifest or the hash cache).</param>
    public static LayerEntry FromFile(string path, string sourceFile, long size, string sha256, bool executable = false) =>
        new(path, LayerEntryKind.File) { SourceFile = sourceFile, Size = size, Sha256 = sha256, Executable = executable };

    public static LayerEntry FromBytes(string path, byte[] content, bool executable = false) =>
        new(path, LayerEntryKind.File)
        {
            Content = content, Size = content.Length, Sha256 = Convert.ToHexStringLower(SHA256.HashData(content)), Executable = executable,
        };

    public static LayerEntry Symlink(string path, string target) => new(path, LayerEntryKind.Symlink) { LinkTarget = target };

    /// <summary>The line this entry contributes to the layer's cache key: everything that ends up in the tar.</summary>
    internal string IdentityLine() => Kind switch
    {
        LayerEntryKind.Directory => $"d {Mode:x} {Path}",
        LayerEntryKind.Symlink => $"l {Mode:x} {Path} -> {LinkTarget}",
        _ => $"f {Mode:x} {Size} {Sha256} {Path}",
    };
}
