namespace Bento.Runtime.Tokenization;

/// <summary>
/// What a splitting pre-tokenizer does with the parts of a piece its pattern matched, as the tokenizers
/// library's SplitDelimiterBehavior defines it.
/// </summary>
internal enum SplitBehavior
{
    /// <summary>Matches are dropped.</summary>
    Removed,
    /// <summary>Every match and every gap between matches is its own piece.</summary>
    Isolated,
    /// <summary>A match joins the piece before it.</summary>
    MergedWithPrevious,
    /// <summary>A match joins the piece after it.</summary>
    MergedWithNext,
    /// <summary>Adjacent matches form one piece.</summary>
    Contiguous,
}

internal static class SplitBehaviors
{
    public static SplitBehavior Parse(string? name, string component) => name switch
    {
        "Removed" => SplitBehavior.Removed,
        "Isolated" => SplitBehavior.Isolated,
        "MergedWithPrevious" => SplitBehavior.MergedWithPrevious,
        "MergedWithNext" => SplitBehavior.MergedWithNext,
        "Contiguous" => SplitBehavior.Contiguous,
        _ => throw new TokenizerFormatException($"tokenizer.json: {component} has unknown behavior '{name ?? "(none)"}'"),
    };

    /// <summary>Cuts <paramref name="text"/> at <paramref name="matches"/> and appends the resulting
    /// non-empty pieces to <paramref name="output"/>.</summary>
    /// <param name="invert">True when the pattern describes the pieces to keep rather than the delimiters.</param>
    public static void Apply(string text, List<(int Start, int Length)> matches, SplitBehavior behavior, bool invert, List<string> output)
    {
        if (matches.Count == 0)
        {
            // Nothing matched: the whole text is one gap (or, inverted, one match).
            if (text.Length > 0 && !(behavior == SplitBehavior.Removed && invert))
                output.Add(text);
            return;
        }

        // The text as alternating spans, each flagged as delimiter or not.
        var spans = new List<(int Start, int End, bool IsDelimiter)>(matches.Count * 2 + 1);
        var position = 0;
        foreach (var (start, length) in matches)
        {
            if (start > position)
                spans.Add((position, start, invert));
            spans.Add((start, start + length, !invert));
            position = start + length;
        }
        if (position < text.Length)
            spans.Add((position, text.Length, invert));

        var pieces = new List<(int Start, int End)>(spans.Count);
        switch (behavior)
        {
            case SplitBehavior.Removed:
                foreach (var span in spans)
                {
                    if (!span.IsDelimiter)
                        pieces.Add((span.Start, span.End));
                }
                break;
            case SplitBehavior.Isolated:
                foreach (var span in spans)
                    pieces.Add((span.Start, span.End));
                break;
            case SplitBehavior.MergedWithPrevious:
            {
                var previousWasDelimiter = false;
                foreach (var span in spans)
                {
                    if (span.IsDelimiter && !previousWasDelimiter && pieces.Count > 0)
                        pieces[^1] = (pieces[^1].Start, span.End);
                    else
                        pieces.Add((span.Start, span.End));
                    previousWasDelimiter = span.IsDelimiter;
                }
                break;
            }
            case SplitBehavior.MergedWithNext:
            {
                // Walk backwards so a delimiter can extend the piece that follows it.
                var reversed = new List<(int Start, int End)>(spans.Count);
                var previousWasDelimiter = false;
                for (var i = spans.Count - 1; i >= 0; i--)
                {
                    var span = spans[i];
                    if (span.IsDelimiter && !previousWasDelimiter && reversed.Count > 0)
                        reversed[^1] = (span.Start, reversed[^1].End);
                    else
                        reversed.Add((span.Start, span.End));
                    previousWasDelimiter = span.IsDelimiter;
                }
                reversed.Reverse();
                pieces = reversed;
                break;
            }
            case SplitBehavior.Contiguous:
            {
                var previousWasDelimiter = false;
                foreach (var span in spans)
                {
                    if (span.IsDelimiter && previousWasDelimiter && pieces.Count > 0)
                        pieces[^1] = (pieces[^1].Start, span.End);
                    else
                        pieces.Add((span.Start, span.End));
                    previousWasDelimiter = span.IsDelimiter;
                }
                break;
            }
        }

        foreach (var (start, end) in pieces)
        {
            if (end > start)
                output.Add(text[start..end]);
        }
    }
}
