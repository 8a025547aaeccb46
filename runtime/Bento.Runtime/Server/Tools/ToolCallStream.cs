namespace Bento.Runtime.Server.Tools;

/// <summary>
/// Splits one choice's output (decoded with special tokens, since markers such as [TOOL_CALLS] are special tokens)
/// into content and tool calls as it arrives: content is passed on at once, except text that may be the start of the
/// family's marker, which is held back; from the marker on, the output is kept and parsed as calls at the end. Calls
/// that do not parse come back as content, as vLLM does.
/// </summary>
internal sealed class ToolCallStream(ToolCallFormat format)
{
    private readonly System.Text.StringBuilder _pending = new();
    private bool _inCalls;
    private bool _decided; // OnlyAtStart formats: whether the output's start has been seen
    private bool _sawContent;

    /// <summary>Adds output text; returns the content that is now safe to send.</summary>
    public string Add(string text)
    {
        _pending.Append(text);
        if (_inCalls) return "";
        var buffer = _pending.ToString();
        if (format.OnlyAtStart && !_decided)
        {
            var trimmed = buffer.TrimStart();
            if (trimmed.Length == 0 || format.Marker.StartsWith(trimmed, StringComparison.Ordinal)) return "";
            _decided = true;
            if (trimmed.StartsWith(format.Marker, StringComparison.Ordinal) || trimmed.StartsWith('{') || trimmed.StartsWith('['))
            {
                _inCalls = true;
                _pending.Clear().Append(trimmed);
                return "";
            }
            return TakeContent(buffer.Length);
        }
        if (format.OnlyAtStart) return TakeContent(buffer.Length);
        var at = buffer.IndexOf(format.Marker, StringComparison.Ordinal);
        if (at >= 0)
        {
            var content = TakeContent(at);
            _inCalls = true;
            return content;
        }
        // Hold back a tail that could be the start of the marker.
        var hold = 0;
        for (var k = Math.Min(format.Marker.Length - 1, buffer.Length); k > 0; k--)
            if (buffer.AsSpan(buffer.Length - k).SequenceEqual(format.Marker.AsSpan(0, k))) { hold = k; break; }
        return TakeContent(buffer.Length - hold);
    }

    private string TakeContent(int length)
    {
        var content = _pending.ToString(0, length);
        _pending.Remove(0, length);
        if (content.Length > 0) _sawContent = true;
        return content;
    }

    /// <summary>At the end: the content still held back and the calls (none when the output had no valid calls).</summary>
    public (string Content, List<ToolCall> Calls) Finish()
    {
        var rest = _pending.ToString();
        _pending.Clear();
        if (!_inCalls) return (rest, []);
        var calls = format.ParseCalls(rest);
        return calls is { Count: > 0 } ? ("", calls) : (rest, []);
    }

    public bool HadContent => _sawContent;
}
