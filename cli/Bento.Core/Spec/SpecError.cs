using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Bento.Core.Spec;

/// <summary>A bentofile problem, located as <c>file:line:column: key.path: what is wrong and what is expected</c>.</summary>
public sealed class SpecException : BentoException
{
    public SpecException(string file, Mark mark, string keyPath, string message)
        : base($"{file}:{mark.Line}:{mark.Column}: {(keyPath.Length > 0 ? keyPath + ": " : "")}{message}") { }

    public SpecException(string file, YamlNode node, string keyPath, string message) : this(file, node.Start, keyPath, message) { }
}

/// <summary>"Did you mean" suggestions for misspelt keys (Levenshtein distance).</summary>
public static class Suggest
{
    public static string? Closest(string given, IEnumerable<string> candidates)
    {
        string? best = null;
        var bestDistance = int.MaxValue;
        foreach (var candidate in candidates)
        {
            var d = Distance(given.ToLowerInvariant(), candidate);
            if (d < bestDistance) (best, bestDistance) = (candidate, d);
        }
        var allowed = Math.Max(2, given.Length / 3);
        return bestDistance <= allowed ? best : null;
    }

    public static int Distance(string a, string b)
    {
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (var j = 0; j <= b.Length; j++) previous[j] = j;
        for (var i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = a[i - 1] == b[j - 1] ? 0 : 1;
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + cost);
            }
            (previous, current) = (current, previous);
        }
        return previous[b.Length];
    }
}
