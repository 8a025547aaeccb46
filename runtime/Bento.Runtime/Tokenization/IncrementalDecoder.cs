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
/// costs O(1) however long the output grows. It only grows while the text ends in an incomplete
/// character (or the new ids add no text); skipped special tokens never enter it. As in vLLM the new text
/// is what the longer decode has beyond the length of the shorter one, so where a decoder rewrites earlier
/// text (a byte-fallback run that turns out not to be UTF-8 becomes one U+FFFD per byte) the streamed text
/// keeps the full decode's length.
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
    private string _pending = "";

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

    /// <summary>The text of the ids that <see cref="Add"/> has not released yet, as decoded now: what
    /// <see cref="Flush"/> would return. Empty unless a character is incomplete, in which case it ends in
    /// U+FFFD and may start with whole characters of the same tokens.</summary>
    public string Pending => _pending;

    /// <summary>Adds one generated id and returns the text that became final (often empty while a
    /// multi-byte character is incomplete, or for a skipped special token).</summary>
    public string Add(int tokenId)
    {
        // A skipped special token contributes nothing to any decode, so it need not widen the window.
        if (_skipSpecialTokens && _tokenizer.IsSpecial(tokenId))
            return "";
        _window.Add(tokenId);
        var prefixText = DecodeWindow(_prefixOffset, _readOffset);
        var fullText = DecodeWindow(_prefixOffset, _window.Count);

        // A trailing U+FFFD means the last character's bytes are not all here yet; wait for more.
        if (fullText.Length <= prefixText.Length || fullText.EndsWith('\uFFFD'))
        {
            _pending = fullText.Length > prefixText.Length ? fullText[prefixText.Length..] : "";
            return "";
        }

        var delta = fullText[prefixText.Length..];
        _pending = "";
        _prefixOffset = _readOffset;
        _readOffset = _window.Count;
        DropEmittedContext();
        return delta;
    }

    /// <summary>At the end of generation: the text still held back (an incomplete character comes out as
    /// U+FFFD), after which the decoder is empty.</summary>
    public string Flush()
    {
        var rest = _pending;
        _pending = "";
        _prefixOffset = _readOffset = _window.Count;
        DropEmittedContext();
        return rest;
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
}
