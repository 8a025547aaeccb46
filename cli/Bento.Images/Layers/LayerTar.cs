using System.Formats.Tar;
using System.Security.Cryptography;
using Bento.Core;
using Bento.Core.Tar;
using Bento.Images.Oci;

namespace Bento.Images.Layers;

/// <summary>
/// The one owner of layer determinism. Every layer BentoBuilder produces is written here, and the same entries always
/// give the same bytes, on any machine, in any directory, at any time:
/// <list type="bullet">
/// <item>PAX format (System.Formats.Tar), so files over 8 GiB and long or non-ASCII names are exact;</item>
/// <item>entries sorted by path (ordinal), every parent directory present explicitly, duplicates rejected;</item>
/// <item>one fixed mtime for every entry (the caller passes it: SOURCE_DATE_EPOCH, the bento's creation time, or the
///   epoch for layers shared between bentos), no atime/ctime;</item>
/// <item>uid/gid 0, empty user and group names, modes 0755 (directories, executables), 0644 (files), 0777 (links);</item>
/// <item>.NET's per-process PAX header names (PaxHeaders.&lt;pid&gt;) rewritten to PaxHeaders.0;</item>
/// <item>the tar header rules (owners, modes, times, PAX names) are <see cref="DeterministicTarWriter"/>'s in Bento.Core,
///   which .bento archives use too: this class adds the layer-specific part (paths, parents, order, cache key).</item>
/// </list>
/// File data is streamed from disk (never buffered whole) and checked against its recorded size (and, when asked, its
/// sha256) so a layer can never silently contain other bytes than its recipe says.
/// </summary>
public static class LayerTar
{
    /// <summary>Bump when anything in how layers are written changes: it is part of every layer cache key.</summary>
    public const int RecipeVersion = 1;

    private const int FileBufferSize = 1 << 20;

    /// <summary>
    /// Validates paths, adds missing parent directories, rejects duplicates and sorts: the exact list of entries the tar
    /// will hold.
    /// </summary>
    public static IReadOnlyList<LayerEntry> Normalize(IEnumerable<LayerEntry> entries)
    {
        var byPath = new Dictionary<string, LayerEntry>(StringComparer.Ordinal);
        foreach (var entry in entries)
        {
            CheckPath(entry.Path);
            if (byPath.TryGetValue(entry.Path, out var existing))
            {
                if (existing.Kind == LayerEntryKind.Directory && entry.Kind == LayerEntryKind.Directory) continue;
                throw new ArgumentException($"duplicate path '{entry.Path}' in a layer");
            }
            byPath[entry.Path] = entry;
        }
        foreach (var path in byPath.Keys.ToList())
        {
            for (var slash = path.LastIndexOf('/'); slash > 0; slash = path.LastIndexOf('/', slash - 1))
            {
                var parent = path[..slash];
                if (byPath.TryGetValue(parent, out var p))
                {
                    if (p.Kind != LayerEntryKind.Directory) throw new ArgumentException($"'{parent}' is both a file and a directory in a layer");
                    break;
                }
                byPath[parent] = LayerEntry.Directory(parent);
            }
        }
        // Ordinal order puts every directory before its contents ("a" < "a/..." since a prefix sorts first).
        return byPath.Values.OrderBy(e => e.Path, StringComparer.Ordinal).ToList();
    }

    private static void CheckPath(string path)
    {
        if (path.Length == 0 || path.StartsWith('/') || path.EndsWith('/') || path.Contains('\\') || path.Contains('\0'))
            throw new ArgumentException($"invalid layer path '{path}': expected a relative path like 'bento/model/x'");
        foreach (var part in path.Split('/'))
            if (part is "" or "." or "..")
                throw new ArgumentException($"invalid layer path '{path}': empty, '.' or '..' component");
    }

    /// <summary>A stable key for the layer these entries make (with this mtime), for the layer cache.</summary>
    public static string Key(IReadOnlyList<LayerEntry> normalized, DateTimeOffset mtime, string compression)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        void Line(string s) => hash.AppendData(System.Text.Encoding.UTF8.GetBytes(s + "\n"));
        Line($"bento-layer v{RecipeVersion}");
        Line($"compression {compression}");
        Line($"mtime {mtime.ToUnixTimeSeconds()}");
        foreach (var e in normalized) Line(e.IdentityLine());
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    /// <summary>Writes the tar of <paramref name="normalized"/> (from <see cref="Normalize"/>) to <paramref name="output"/>.</summary>
    /// <param name="verifyContent">Also hash each file's content and compare it with its recorded sha256.</param>
    public static async Task WriteAsync(Stream output, IReadOnlyList<LayerEntry> normalized, DateTimeOffset mtime, bool verifyContent, CancellationToken ct)
    {
        // Owners, modes, times and PAX header names are DeterministicTarWriter's (shared with .bento archives).
        await using var writer = new DeterministicTarWriter(output, mtime);
        foreach (var entry in normalized)
        {
            ct.ThrowIfCancellationRequested();
            switch (entry.Kind)
            {
                case LayerEntryKind.Directory:
                    await writer.WriteDirectoryAsync(entry.Path, ct);
                    break;
                case LayerEntryKind.Symlink:
                    await writer.WriteSymlinkAsync(entry.Path, entry.LinkTarget!, ct);
                    break;
                default:
                    await using (var data = OpenData(entry, verifyContent))
                        await writer.WriteFileAsync(entry.Path, data, entry.Executable, ct);
                    break;
            }
        }
    }

    private static Stream OpenData(LayerEntry entry, bool verifyContent)
    {
        if (entry.Content is not null) return new MemoryStream(entry.Content, writable: false);
        Stream file;
        try
        {
            file = new FileStream(entry.SourceFile!, FileMode.Open, FileAccess.Read, FileShare.Read, FileBufferSize, FileOptions.SequentialScan | FileOptions.Asynchronous);
        }
        catch (FileNotFoundException)
        {
            throw new BentoException($"{entry.SourceFile} is missing (needed for /{entry.Path} in the image)");
        }
        if (verifyContent)
            file = new VerifyingReadStream(file, new Descriptor("", OciDigest.FromHex(entry.Sha256!), entry.Size), entry.SourceFile!);
        return new KnownLengthStream(file, entry.Size, entry.SourceFile!);
    }
}
