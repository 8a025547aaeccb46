using System.Text.RegularExpressions;

namespace Bento.Core;

/// <summary>
/// <c>NAME</c>, <c>NAME:latest</c> or <c>NAME:VERSION</c> (VERSION may be a unique prefix when resolving).
/// BentoML's rule: lowercase letters, digits, '_', '.', '-', starting with a letter or digit, at most 63 characters.
/// </summary>
public sealed partial record BentoTag(string Name, string? Version)
{
    public const int MaxLength = 63;

    [GeneratedRegex("^[a-z0-9][a-z0-9_.-]*$")]
    private static partial Regex Component();

    public bool IsLatest => Version is null or "latest";

    public override string ToString() => Version is null ? Name : $"{Name}:{Version}";

    public static BentoTag Parse(string text)
    {
        var colon = text.IndexOf(':');
        var name = colon < 0 ? text : text[..colon];
        var version = colon < 0 ? null : text[(colon + 1)..];
        CheckComponent(text, name, "name");
        if (version is not null) CheckComponent(text, version, "version");
        return new BentoTag(name, version);
    }

    /// <summary>Validates a bento name from a bentofile; returns an explanation or null when valid.</summary>
    public static string? ExplainInvalidName(string name)
    {
        if (name.Length == 0) return "must not be empty";
        if (name.Length > MaxLength) return $"is {name.Length} characters long; at most {MaxLength} are allowed";
        if (!Component().IsMatch(name))
            return "may use only lowercase letters, digits, '_', '.' and '-', and must start with a letter or digit";
        return null;
    }

    private static void CheckComponent(string tag, string part, string what)
    {
        var problem = ExplainInvalidName(part);
        if (problem is not null)
            throw new UsageException($"invalid tag '{tag}': the {what} '{part}' {problem} (expected NAME, NAME:latest or NAME:VERSION)");
    }
}
