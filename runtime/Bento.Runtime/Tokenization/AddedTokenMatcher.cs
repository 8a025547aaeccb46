namespace Bento.Runtime.Tokenization;

/// <summary>
/// Finds added tokens in text and cuts the text around them, leftmost match first and, among matches at
/// the same place, the longest (so "&lt;|eot_id|&gt;" wins over a shorter token that is its prefix), which
/// is how the tokenizers library's added vocabulary splits input.
/// </summary>
internal sealed class AddedTokenMatcher
{
    /// <summary>Candidates by first character, longest first.</summary>
    private readonly Dictionary<char, (string Text, AddedToken Token)[]> _byFirstChar;

    /// <param name="tokens">The tokens to look for.</param>
    /// <param name="matchText">The string to search for each token (its content, or its normalised form
    /// for tokens matched after normalisation).</param>
    public AddedTokenMatcher(IEnumerable<AddedToken> tokens, Func<AddedToken, string> matchText)
    {
        _byFirstChar = tokens
            .Select(token => (Text: matchText(token), Token: token))
            .Where(candidate => candidate.Text.Length > 0)
            .GroupBy(candidate => candidate.Text[0])
            .ToDictionary(group => group.Key, group => group.OrderByDescending(candidate => candidate.Text.Length).ToArray());
    }

    public bool IsEmpty => _byFirstChar.Count == 0;

    /// <summary>Cuts <paramref name="text"/> into plain runs and added tokens, in order.</summary>
    /// <param name="textStartsInput">Whether <paramref name="text"/> begins the caller's input, so that the
    /// first run can be flagged as the start (pre-tokenizers that prepend a marker "first" need it).</param>
    public void Split(string text, bool textStartsInput, List<TextSegment> output)
    {
        var runStart = 0;
        var i = 0;
        while (i < text.Length)
        {
            if (!TryMatchAt(text, i, out var token, out var matchLength))
            {
                i++;
                continue;
            }

            var tokenStart = i;
            var tokenEnd = i + matchLength;
            if (token.LStrip)
            {
                while (tokenStart > runStart && char.IsWhiteSpace(text[tokenStart - 1]))
                    tokenStart--;
            }
            if (token.RStrip)
            {
                while (tokenEnd < text.Length && char.IsWhiteSpace(text[tokenEnd]))
                    tokenEnd++;
            }

            if (tokenStart > runStart)
                output.Add(new TextSegment(text[runStart..tokenStart], textStartsInput && runStart == 0, null));
            output.Add(new TextSegment(token.Content, false, token));
            runStart = tokenEnd;
            i = tokenEnd;
        }
        if (runStart < text.Length)
            output.Add(new TextSegment(runStart == 0 ? text : text[runStart..], textStartsInput && runStart == 0, null));
    }

    private bool TryMatchAt(string text, int index, out AddedToken token, out int length)
    {
        if (_byFirstChar.TryGetValue(text[index], out var candidates))
        {
            var rest = text.AsSpan(index);
            foreach (var candidate in candidates)
            {
                if (rest.StartsWith(candidate.Text, StringComparison.Ordinal)
                    && (!candidate.Token.SingleWord || IsWholeWord(text, index, candidate.Text.Length)))
                {
                    token = candidate.Token;
                    length = candidate.Text.Length;
                    return true;
                }
            }
        }
        token = null!;
        length = 0;
        return false;
    }

    private static bool IsWholeWord(string text, int start, int length)
    {
        var end = start + length;
        return (start == 0 || !IsWordChar(text[start - 1])) && (end >= text.Length || !IsWordChar(text[end]));
    }

    private static bool IsWordChar(char c) => char.IsLetterOrDigit(c) || c == '_';
}

