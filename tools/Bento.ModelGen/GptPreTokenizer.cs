using System.Text.RegularExpressions;

namespace Bento.ModelGen;

/// <summary>
/// Splits text into the pieces BPE works on, with GPT-2's pattern (the one the tokenizers library's
/// ByteLevel pre-tokenizer uses when use_regex is true).
/// </summary>
/// <remarks>
/// Merges never cross a piece boundary, so the trainer must split exactly like the loader will, or
/// learned merges would be useless at inference. The pattern keeps a leading space attached to the
/// following word or number (" 5"), and leaves runs of whitespace on their own.
/// </remarks>
public static partial class GptPreTokenizer
{
    public const string Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    [GeneratedRegex(Pattern, RegexOptions.CultureInvariant)]
    private static partial Regex Regex();

    /// <summary>The pieces of <paramref name="text"/>, in order; concatenated they give the text back.</summary>
    public static IEnumerable<string> Split(string text)
    {
        foreach (Match match in Regex().Matches(text))
            yield return match.Value;
    }
}
