using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Bento.Runtime.Tokenization;

/// <summary>
/// A pre-tokenizer regex matched the way the tokenizers library (Rust, Oniguruma) matches it: one
/// Unicode scalar value at a time, where .NET's regex engine sees UTF-16 code units.
/// </summary>
/// <remarks>
/// The difference matters for characters outside the BMP. .NET sees "😀" as two surrogates, neither a
/// letter nor a symbol, so Llama 3's <c>[^\r\n\p{L}\p{N}]?\p{L}+</c> would not attach an emoji to the word
/// after it as the reference does, and an astral letter (𝐀, CJK extension B) would not count as \p{L}. We
/// therefore replace each astral scalar with one BMP stand-in of the same Unicode category, match on that,
/// and map match boundaries back. Text without surrogates (the usual case) is matched directly.
/// </remarks>
internal sealed class ScalarRegex
{
    private readonly Regex _regex;

    public ScalarRegex(string pattern, string component)
    {
        try
        {
            _regex = new Regex(pattern, RegexOptions.CultureInvariant | RegexOptions.Compiled);
        }
        catch (ArgumentException e)
        {
            throw new TokenizerFormatException($"tokenizer.json: the {component} regex '{pattern}' cannot be used: {e.Message}", e);
        }
    }

    /// <summary>Non-empty matches as (start, length) in <paramref name="text"/>'s own indices.</summary>
    public List<(int Start, int Length)> Matches(string text)
    {
        var found = new List<(int, int)>();
        if (!HasSurrogate(text))
        {
            for (var match = _regex.Match(text); match.Success; match = match.NextMatch())
            {
                if (match.Length > 0)
                    found.Add((match.Index, match.Length));
            }
            return found;
        }

        var (substitute, originalIndex) = SubstituteAstralScalars(text);
        for (var match = _regex.Match(substitute); match.Success; match = match.NextMatch())
        {
            if (match.Length == 0)
                continue;
            var start = originalIndex[match.Index];
            found.Add((start, originalIndex[match.Index + match.Length] - start));
        }
        return found;
    }

    private static bool HasSurrogate(string text)
    {
        foreach (var c in text)
        {
            if (char.IsSurrogate(c))
                return true;
        }
        return false;
    }

    /// <summary>The text with each astral scalar as one stand-in char, and for every index of that text
    /// (plus its end) the index in the original.</summary>
    private static (string Text, int[] OriginalIndex) SubstituteAstralScalars(string text)
    {
        var builder = new StringBuilder(text.Length);
        var map = new List<int>(text.Length + 1);
        var i = 0;
        while (i < text.Length)
        {
            map.Add(i);
            if (Rune.DecodeFromUtf16(text.AsSpan(i), out var rune, out var consumed) == System.Buffers.OperationStatus.Done
                && rune.Utf16SequenceLength == 2)
            {
                builder.Append(StandIn(CharUnicodeInfo.GetUnicodeCategory(rune.Value)));
                i += consumed;
            }
            else
            {
                // BMP characters stay; a lone surrogate stays as it is (the reference would have rejected
                // such a string before getting here, so any consistent answer will do).
                builder.Append(text[i]);
                i++;
            }
        }
        map.Add(text.Length);
        return (builder.ToString(), map.ToArray());
    }

    /// <summary>A BMP character of <paramref name="category"/>, chosen not to be one a tokenizer pattern
    /// names literally (no ASCII, no apostrophe, no whitespace).</summary>
    internal static char StandIn(UnicodeCategory category) => category switch
    {
        UnicodeCategory.UppercaseLetter => '\u0391',       // Greek capital alpha
        UnicodeCategory.LowercaseLetter => '\u03B1',       // Greek small alpha
        UnicodeCategory.TitlecaseLetter => '\u01C5',
        UnicodeCategory.ModifierLetter => '\u02B0',
        UnicodeCategory.OtherLetter => '\u4E00',
        UnicodeCategory.NonSpacingMark => '\u0300',
        UnicodeCategory.SpacingCombiningMark => '\u0903',
        UnicodeCategory.EnclosingMark => '\u20DD',
        UnicodeCategory.DecimalDigitNumber => '\u0660',    // Arabic-Indic digit zero
        UnicodeCategory.LetterNumber => '\u2160',
        UnicodeCategory.OtherNumber => '\u00B2',
        UnicodeCategory.ConnectorPunctuation => '\u203F',
        UnicodeCategory.DashPunctuation => '\u2010',
        UnicodeCategory.OpenPunctuation => '\u2045',
        UnicodeCategory.ClosePunctuation => '\u2046',
        UnicodeCategory.InitialQuotePunctuation => '\u00AB',
        UnicodeCategory.FinalQuotePunctuation => '\u00BB',
        UnicodeCategory.OtherPunctuation => '\u00B6',
        UnicodeCategory.MathSymbol => '\u00AC',
        UnicodeCategory.CurrencySymbol => '\u00A2',
        UnicodeCategory.ModifierSymbol => '\u02C2',
        UnicodeCategory.OtherSymbol => '\u00A9',           // emoji land here
        UnicodeCategory.Format => '\u00AD',
        UnicodeCategory.OtherNotAssigned => '\u0378',
        _ => '\uE000',                                     // private use, and anything else
    };
}
