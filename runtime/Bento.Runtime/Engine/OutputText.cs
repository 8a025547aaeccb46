using Bento.Runtime.Tokenization;

namespace Bento.Runtime.Engine;

/// <summary>
/// Turns a growing list of generated ids into safe text deltas: holds back an incomplete UTF-8 character (decoded as
/// U+FFFD) and any tail that could be the start of a stop string, and cuts the text at the first stop string found.
/// </summary>
/// <remarks>
/// The text comes from an <see cref="IncrementalDecoder"/>, so a token costs the same however long the output is:
/// only the text not emitted yet and the longest stop's length of text before it are kept, and only they are searched
/// for stop strings. The deltas are the ones the full decode of all the ids would give (where a decoder rewrites
/// earlier text, see IncrementalDecoder's remarks).
/// </remarks>
internal sealed class OutputText
{
    private readonly IReadOnlyList<string> _stops;
    private readonly int _longestStop;
    private readonly IncrementalDecoder _decoder;

    // The decoded text from offset _start on: _finalLength chars the decoder has released, then its pending text
    // (up to _length). Offsets below are positions in the whole text.
    private char[] _buffer = new char[64];
    private int _start;
    private int _finalLength;
    private int _length;
    private int _emitted;
    /// <summary>The stop matched last (index into _stops), searched first next time; -1 if none.</summary>
    private int _lastMatch = -1;

    public OutputText(ITextTokenizer tokenizer, IReadOnlyList<string> stops)
    {
        _stops = stops;
        _longestStop = stops.Count == 0 ? 0 : stops.Max(s => s.Length);
        _decoder = new IncrementalDecoder(tokenizer, skipSpecialTokens: true);
    }

    private int End => _start + _length;

    /// <summary>Adds a token; returns the text now safe to emit and, if a stop string appeared, which one.</summary>
    public (string Delta, string? MatchedStop) Append(int id)
    {
        var released = _decoder.Add(id);
        _length = _finalLength;
        Write(released);
        _finalLength = _length;
        Write(_decoder.Pending);
        var result = Advance();
        Forget();
        return result;
    }

    private (string Delta, string? MatchedStop) Advance()
    {
        var searchFrom = Math.Max(0, _emitted - _longestStop);
        var (cut, matched) = FindStop(searchFrom);
        if (matched is not null)
        {
            var delta = cut > _emitted ? Text(_emitted, cut) : "";
            _emitted = Math.Max(_emitted, cut);
            return (delta, matched);
        }

        var safe = End;
        while (safe > _emitted && _buffer[safe - 1 - _start] == '\uFFFD') safe--;
        var holdBack = 0;
        foreach (var stop in _stops)
            for (var k = Math.Min(stop.Length - 1, safe - _emitted); k > holdBack; k--)
                if (Span(safe - k, safe).SequenceEqual(stop.AsSpan(0, k))) { holdBack = k; break; }
        safe -= holdBack;
        if (safe <= _emitted) return ("", null);
        var text = Text(_emitted, safe);
        _emitted = safe;
        return (text, null);
    }

    /// <summary>At the end of generation (not by stop string): whatever was held back.</summary>
    public string Flush()
    {
        var rest = _emitted < End ? Text(_emitted, End) : "";
        _emitted = Math.Max(_emitted, End);
        Forget();
        return rest;
    }

    /// <summary>The earliest stop string starting at or after <paramref name="searchFrom"/> (the first listed wins a
    /// tie). Once one is found the others are only searched where they could start before it, and the stop found last
    /// time is searched first, so a sequence that goes on after a stop (min_tokens) does not rescan its whole tail.</summary>
    private (int Cut, string? Matched) FindStop(int searchFrom)
    {
        if (_stops.Count == 0 || searchFrom > End)
            return (-1, null);
        var text = Span(searchFrom, End);
        int cut = -1, winner = -1;
        for (var n = -1; n < _stops.Count; n++)
        {
            var i = n < 0 ? _lastMatch : n;
            if (i < 0 || (n >= 0 && i == _lastMatch))
                continue;
            var stop = _stops[i];
            // A match must start before the best so far (or at it, for a stop listed earlier).
            var limit = cut < 0 ? text.Length : Math.Min(text.Length, cut + stop.Length - (i < winner ? 0 : 1));
            if (limit < stop.Length)
                continue;
            var at = text[..limit].IndexOf(stop.AsSpan(), StringComparison.Ordinal);
            if (at >= 0 && (cut < 0 || at < cut || (at == cut && i < winner)))
                (cut, winner) = (at, i);
        }
        if (winner < 0)
            return (-1, null);
        _lastMatch = winner;
        return (searchFrom + cut, _stops[winner]);
    }

    private ReadOnlySpan<char> Span(int from, int to) => _buffer.AsSpan(from - _start, to - from);

    private string Text(int from, int to) => new(Span(from, to));

    private void Write(string text)
    {
        if (_length + text.Length > _buffer.Length)
            Array.Resize(ref _buffer, Math.Max(_buffer.Length * 2, _length + text.Length));
        text.CopyTo(_buffer.AsSpan(_length));
        _length += text.Length;
    }

    /// <summary>Drops released text that no later step looks at again: everything before the longest stop's length
    /// ahead of what has been emitted. Shifts the buffer only when at least as much is dropped as kept, so the copying
    /// costs O(1) per character over the whole output.</summary>
    private void Forget()
    {
        var keepFrom = Math.Min(Math.Max(0, _emitted - _longestStop), _start + _finalLength);
        var drop = keepFrom - _start;
        if (drop <= 0 || drop < _length - drop)
            return;
        _buffer.AsSpan(drop, _length - drop).CopyTo(_buffer);
        _start += drop;
        _finalLength -= drop;
        _length -= drop;
    }
}
