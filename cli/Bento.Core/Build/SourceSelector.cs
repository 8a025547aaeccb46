using MAB.DotIgnore;

namespace Bento.Core.Build;

/// <summary>
/// Chooses the build directory's extra files (stored under <c>src/</c>): those matching an <c>include</c> pattern and no
/// <c>exclude</c> or <c>.bentoignore</c> pattern, all with gitignore semantics. The model's own files, the bentofile and
/// VCS/cache debris are never taken; neither are unsupported weight formats, which would bloat every image.
/// </summary>
public sealed class SourceSelector
{
    public const string IgnoreFileName = ".bentoignore";

    public static readonly string[] DefaultExcludes =
    [
        ".git/", ".hg/", ".svn/", "__pycache__/", "*.pyc", ".DS_Store", "/" + IgnoreFileName, "/" + Spec.BentofileParser.FileName,
        "*.bin", "*.pt", "*.pth", "*.ckpt", "*.gguf", "*.h5", "*.msgpack", "*.onnx", "bin/", "obj/",
    ];

    private readonly IgnoreList _include;
    private readonly IgnoreList _exclude;

    public SourceSelector(IEnumerable<string> include, IEnumerable<string> exclude)
    {
        _include = new IgnoreList(include.Select(Normalise));
        _exclude = new IgnoreList(DefaultExcludes.Concat(exclude).Select(Normalise));
    }

    public static SourceSelector ForDirectory(string directory, IEnumerable<string> include, IEnumerable<string> exclude)
    {
        var ignoreFile = Path.Combine(directory, IgnoreFileName);
        var fromFile = new List<string>();
        if (File.Exists(ignoreFile))
        {
            var lines = IO.InputFile.ReadAllText(ignoreFile, InputLimits.IgnoreFileBytes, IgnoreFileName).Split('\n');
            for (var i = 0; i < lines.Length; i++)
            {
                var line = lines[i].TrimEnd('\r');
                if (line.Trim().Length == 0 || line.TrimStart().StartsWith('#')) continue;
                if (PatternProblem(line) is { } problem)
                    throw new BentoException($"{Spec.BentofileParser.DisplayPath(ignoreFile)}:{i + 1}: {problem}");
                fromFile.Add(line);
            }
        }
        return new SourceSelector(include, exclude.Concat(fromFile));
    }

    /// <summary>Why <paramref name="pattern"/> is not a usable gitignore pattern (e.g. the range <c>[z-a]</c>); null when it is.</summary>
    public static string? PatternProblem(string pattern)
    {
        try
        {
            new IgnoreRule(Normalise(pattern)).IsMatch("probe", pathIsDirectory: false);
            return null;
        }
        catch (ArgumentException e)
        {
            var reason = e.Message.Split(" at offset ", 2)[0];
            var detail = e.Message.Contains(" at offset ", StringComparison.Ordinal) ? e.Message[(e.Message.LastIndexOf(". ", StringComparison.Ordinal) + 2)..].TrimEnd('.') : reason;
            return $"'{pattern}' is not a valid gitignore pattern ({detail})";
        }
    }

    // "**" alone means everything; gitignore spells that "*".
    private static string Normalise(string pattern) => pattern.Trim() is "**" or "**/*" ? "*" : pattern.Trim();

    public bool IsExcludedDirectory(string relativePath) => _exclude.IsIgnored(relativePath, pathIsDirectory: true);

    public bool IsSelected(string relativePath) =>
        !_exclude.IsIgnored(relativePath, pathIsDirectory: false) && _include.IsIgnored(relativePath, pathIsDirectory: false);

    /// <summary>Relative '/'-separated paths of the selected regular files, sorted; <paramref name="skip"/> holds full paths to leave out.</summary>
    public IReadOnlyList<string> Select(string root, IReadOnlySet<string> skip)
    {
        var result = new List<string>();
        Walk(root, "", skip, result);
        result.Sort(StringComparer.Ordinal);
        return result;
    }

    private void Walk(string root, string prefix, IReadOnlySet<string> skip, List<string> result)
    {
        var directory = prefix.Length == 0 ? root : Path.Combine(root, prefix);
        foreach (var entry in new DirectoryInfo(directory).EnumerateFileSystemInfos())
        {
            var relative = prefix.Length == 0 ? entry.Name : $"{prefix}/{entry.Name}";
            if (entry is DirectoryInfo dir)
            {
                // Symlinked directories are not followed: they could loop or leave the build directory.
                if (dir.LinkTarget is not null || IsExcludedDirectory(relative)) continue;
                Walk(root, relative, skip, result);
            }
            else if (entry is FileInfo file && !skip.Contains(file.FullName) && IsSelected(relative))
            {
                if (IO.Posix.KindOf(file.FullName) is null)
                    throw new BentoException($"{Spec.BentofileParser.DisplayPath(file.FullName)}: broken symbolic link (its target does not exist, or links loop); remove it or add it to exclude");
                IO.InputFile.RequireRegular(file.FullName, "remove it or add it to exclude");
                result.Add(relative);
            }
        }
    }
}
