namespace Bento.Core.Spec;

/// <summary><c>bento new NAME</c>: writes the files of <c>templates/new/</c> (embedded at build time) into a new folder.</summary>
public static class Scaffold
{
    private const string Prefix = "templates/new/";

    public static IReadOnlyList<string> Create(string name, string directory)
    {
        if (BentoTag.ExplainInvalidName(name) is { } problem) throw new UsageException($"invalid bento name '{name}': it {problem}");
        if (File.Exists(Path.Combine(directory, BentofileParser.FileName)))
            throw new BentoException($"{BentofileParser.DisplayPath(directory)} already has a bentofile.yaml; not overwriting it");
        var assembly = typeof(Scaffold).Assembly;
        var resources = assembly.GetManifestResourceNames().Where(n => n.StartsWith(Prefix, StringComparison.Ordinal)).Order(StringComparer.Ordinal).ToList();
        if (resources.Count == 0) throw new InvalidOperationException("the scaffold templates were not embedded at build time");
        Directory.CreateDirectory(directory);
        var written = new List<string>();
        foreach (var resource in resources)
        {
            using var stream = assembly.GetManifestResourceStream(resource)!;
            var text = new StreamReader(stream).ReadToEnd().Replace("{{name}}", name, StringComparison.Ordinal);
            var target = Path.Combine(directory, resource[Prefix.Length..]);
            if (File.Exists(target)) continue;
            File.WriteAllText(target, text);
            written.Add(target);
        }
        return written;
    }
}
