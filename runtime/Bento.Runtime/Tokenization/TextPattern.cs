using System.Text.Json;
using System.Text.RegularExpressions;

namespace Bento.Runtime.Tokenization;

/// <summary>
/// The <c>pattern</c> of a Split pre-tokenizer or a Replace normalizer/decoder: either
/// <c>{"String": "..."}</c> (a literal) or <c>{"Regex": "..."}</c>.
/// </summary>
internal sealed class TextPattern
{
    private readonly string? _literal;
    private readonly ScalarRegex? _regex;
    private readonly Regex? _replaceRegex;

    private TextPattern(string? literal, ScalarRegex? regex, Regex? replaceRegex)
    {
        _literal = literal;
        _regex = regex;
        _replaceRegex = replaceRegex;
    }

    public static TextPattern FromJson(JsonElement? element, string component)
    {
        if (element is { ValueKind: JsonValueKind.Object } pattern)
        {
            if (pattern.StringField("String") is { } literal)
                return new TextPattern(literal, null, null);
            if (pattern.StringField("Regex") is { } regex)
                return new TextPattern(null, new ScalarRegex(regex, component), CompileForReplace(regex, component));
        }
        throw new TokenizerFormatException($"tokenizer.json: {component} has no usable pattern (expected {{\"String\": ...}} or {{\"Regex\": ...}})");
    }

    /// <summary>Non-empty, non-overlapping matches, left to right.</summary>
    public List<(int Start, int Length)> Matches(string text)
    {
        if (_regex is not null)
            return _regex.Matches(text);
        var found = new List<(int, int)>();
        if (_literal!.Length == 0)
            return found;
        for (var at = text.IndexOf(_literal, StringComparison.Ordinal); at >= 0;
             at = text.IndexOf(_literal, at + _literal.Length, StringComparison.Ordinal))
        {
            found.Add((at, _literal.Length));
        }
        return found;
    }

    public string Replace(string text, string content) =>
        _literal is not null
            ? _literal.Length == 0 ? text : text.Replace(_literal, content, StringComparison.Ordinal)
            : _replaceRegex!.Replace(text, content.Replace("$", "$$", StringComparison.Ordinal));

    private static Regex CompileForReplace(string pattern, string component)
    {
        try
        {
            return new Regex(pattern, RegexOptions.CultureInvariant);
        }
        catch (ArgumentException e)
        {
            throw new TokenizerFormatException($"tokenizer.json: the {component} regex '{pattern}' cannot be used: {e.Message}", e);
        }
    }
}
