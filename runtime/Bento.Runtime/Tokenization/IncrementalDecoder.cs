namespace Bento.Runtime.Tokenization;

/// <summary>
/// Turns generated token ids, arriving one at a time, into text deltas that are safe to stream: a
/// character whose UTF-8 bytes are spread over several tokens is held back until it is complete, so a
/// client never sees a U+FFFD that a later token would have fixed.
/// </summary>
/// <remarks>
/// The method is vLLM's: decode a short window of recent ids twice, once up to the last emitted token
/// (the prefix) and once including the new ones, and emit what the second adds to the first. Decoding
/// the window rather than single tokens keeps context-dependent decoders right (SentencePiece's leading
/// space, byte-level characters spanning tokens), and the window stays a few tokens long, so each step
/// costs O(1) however long the output grows.
/// </remarks>
public sealed class IncrementalDecoder
{
    /// <summary>Prompt tokens kept as context for the first generated token, as vLLM does.</summary>
    private const int PromptContextTokens = 5;

    private readonly ITextTokenizer _tokenizer;
    private readonly bool _skipSpecialTokens;
    private readonly List<int> _window = [];
    /// <summary>Start of the ids whose text has been emitted and serves as context.</summary>
    private int _prefixOffset;
    /// <summary>End of the ids whose text has been emitted.</summary>
    private int _readOffset;

    /// <param name="promptIds">The prompt, whose last few tokens give the first generated token its
    /// context (whether it starts a word, say); may be empty.</param>
    public IncrementalDecoder(ITextTokenizer tokenizer, bool skipSpecialTokens = true, IReadOnlyList<int>? promptIds = null)
    {
        _tokenizer = tokenizer;
        _skipSpecialTokens = skipSpecialTokens;
        if (promptIds is { Count: > 0 })
        {
            var context = Math.Min(PromptContextTokens, promptIds.Count);
            for (var i = promptIds.Count - context; i < promptIds.Count; i++)
                _window.Add(promptIds[i]);
            _readOffset = _window.Count;
        }
    }

    /// <summary>Adds one generated id and returns the text that became final (often empty while a
    /// multi-byte character is incomplete, or for a skipped special token).</summary>
    public string Add(int tokenId)
    {
        _window.Add(tokenId);
        var prefixText = DecodeWindow(_prefixOffset, _readOffset);
        var fullText = DecodeWindow(_prefixOffset, _window.Count);

        // A trailing U+FFFD means the last character's bytes are not all here yet; wait for more.
        if (fullText.Length <= prefixText.Length || fullText.EndsWith('\uFFFD'))
            return "";

        var delta = fullText.StartsWith(prefixText, StringComparison.Ordinal)
            ? fullText[prefixText.Length..]
            : fullText[CommonPrefixLength(prefixText, fullText)..];
        _prefixOffset = _readOffset;
        _readOffset = _window.Count;
        DropEmittedContext();
        return delta;
    }

    /// <summary>At the end of generation: the text still held back (an incomplete character comes out as
    /// U+FFFD), after which the decoder is empty.</summary>
    public string Flush()
    {
        if (_readOffset >= _window.Count)
            return "";
        var prefixText = DecodeWindow(_prefixOffset, _readOffset);
        var fullText = DecodeWindow(_prefixOffset, _window.Count);
        _prefixOffset = _readOffset = _window.Count;
        DropEmittedContext();
        return fullText.Length > prefixText.Length ? fullText[CommonPrefixLength(prefixText, fullText)..] : "";
    }

    private string DecodeWindow(int start, int end) =>
        end <= start ? "" : _tokenizer.Decode(_window.GetRange(start, end - start), _skipSpecialTokens);

    /// <summary>Ids before the prefix are never decoded again, so the window forgets them.</summary>
    private void DropEmittedContext()
    {
        if (_prefixOffset == 0)
            return;
        _window.RemoveRange(0, _prefixOffset);
        _readOffset -= _prefixOffset;
        _prefixOffset = 0;
    }

    private static int CommonPrefixLength(string a, string b)
    {
        var length = Math.Min(a.Length, b.Length);
        var i = 0;
        while (i < length && a[i] == b[i])
            i++;
        return i;
    }
}
