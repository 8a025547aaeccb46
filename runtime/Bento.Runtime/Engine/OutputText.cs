using Bento.Runtime.Tokenization;

namespace Bento.Runtime.Engine;

/// <summary>
/// Turns a growing list of generated ids into safe text deltas: holds back an incomplete UTF-8 character (decoded as
/// U+FFFD) and any tail that could be the start of a stop string, and cuts the text at the first stop string found.
/// </summary>
internal sealed class OutputText
{
    private readonly ITextTokenizer _tokenizer;
    private readonly IReadOnlyList<string> _stops;
    private readonly List<int> _ids = [];
    private string _text = "";
    private int _emitted;

    public OutputText(ITextTokenizer tokenizer, IReadOnlyList<string> stops) => (_tokenizer, _stops) = (tokenizer, stops);

    /// <summary>Adds a token; returns the text now safe to emit and, if a stop string appeared, which one.</summary>
    public (string Delta, string? MatchedStop) Append(int id)
    {
        _ids.Add(id);
        _text = _tokenizer.Decode(_ids, skipSpecialTokens: true);

        var longestStop = _stops.Count == 0 ? 0 : _stops.Max(s => s.Length);
        var searchFrom = Math.Max(0, _emitted - longestStop);
        int cut = -1;
        string? matched = null;
        foreach (var stop in _stops)
        {
            var at = _text.IndexOf(stop, searchFrom, StringComparison.Ordinal);
            if (at >= 0 && (cut < 0 || at < cut)) (cut, matched) = (at, stop);
        }
        if (matched is not null)
        {
            var delta = cut > _emitted ? _text[_emitted..cut] : "";
            _emitted = Math.Max(_emitted, cut);
            return (delta, matched);
        }

        var safe = _text.Length;
        while (safe > _emitted && _text[safe - 1] == '\uFFFD') safe--;
        var holdBack = 0;
        foreach (var stop in _stops)
            for (var k = Math.Min(stop.Length - 1, safe - _emitted); k > holdBack; k--)
                if (string.CompareOrdinal(_text, safe - k, stop, 0, k) == 0) { holdBack = k; break; }
        safe -= holdBack;
        if (safe <= _emitted) return ("", null);
        var text = _text[_emitted..safe];
        _emitted = safe;
        return (text, null);
    }

    /// <summary>At the end of generation (not by stop string): whatever was held back.</summary>
    public string Flush()
    {
        var rest = _emitted < _text.Length ? _text[_emitted..] : "";
        _emitted = _text.Length;
        return rest;
    }
}
