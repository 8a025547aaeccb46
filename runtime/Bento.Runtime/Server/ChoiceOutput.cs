using System.Text;
using System.Text.Json.Nodes;
using Bento.Runtime.Engine;
using Bento.Runtime.Server.Tools;
using Bento.Runtime.Tokenization;

namespace Bento.Runtime.Server;

/// <summary>
/// One choice's output as the client sees it: content deltas, and tool calls where the request has tools. With
/// tool_choice auto the text is decoded with special tokens (family markers such as [TOOL_CALLS] are special tokens)
/// and split by the family's format; a named function's output is its arguments; required's output is the JSON list
/// of calls. Keeps the chosen tokens' logprobs (and their sum, which best_of ranks by).
/// </summary>
internal sealed class ChoiceOutput
{
    private readonly ParsedRequest _request;
    private readonly ITextTokenizer _tokenizer;
    private readonly IncrementalDecoder? _raw;
    private readonly ToolCallStream? _tools;
    private readonly HashSet<int> _stops;
    private readonly StringBuilder _text = new();
    private bool _namedStarted;

    public ChoiceOutput(ParsedRequest request, ITextTokenizer tokenizer)
    {
        _request = request;
        _tokenizer = tokenizer;
        _stops = [.. tokenizer.StopTokenIds, .. request.Sampling.StopTokenIds];
        if (request.ToolFormat is { } format)
        {
            _raw = new IncrementalDecoder(tokenizer, skipSpecialTokens: false);
            _tools = new ToolCallStream(format);
        }
        if (request.Echo is { } echo) _text.Append(echo);
    }

    private ToolChoiceMode Mode => _request.Tools?.Mode ?? ToolChoiceMode.None;

    public List<(int Id, TokenLogprobs? Logprobs)> Logprobs { get; } = [];
    public double CumulativeLogprob { get; private set; }
    public GenerationFinished? End { get; private set; }
    public List<ToolCall> Calls { get; } = [];

    /// <summary>The whole content (null when the answer is only tool calls).</summary>
    public string? Content => Calls.Count > 0 && _text.Length == 0 ? null : _text.ToString();

    /// <summary>What one event adds for the client: content and tool-call deltas (streaming sends them as they come).</summary>
    public (string Content, JsonArray? ToolCalls) Add(GenerationEvent e)
    {
        switch (e)
        {
            case PromptScored scored:
                // Echo with logprobs: the prompt's tokens come first in the logprobs, as in the text.
                for (var i = 0; i < scored.Logprobs.Count; i++) Logprobs.Add((_request.PromptTokens[i], scored.Logprobs[i]));
                return ("", null);
            case TokenGenerated t:
                if (t.Logprobs is { } lp)
                {
                    Logprobs.Add((t.TokenId, lp));
                    CumulativeLogprob += lp.Logprob;
                }
                if (_raw is not null)
                    return (_stops.Contains(t.TokenId) ? "" : Append(_tools!.Add(_raw.Add(t.TokenId))), null);
                return Delta(t.TextDelta);
            case GenerationFinished f:
                End = f;
                if (_raw is not null)
                {
                    _tools!.Add(_raw.Flush());
                    var (content, calls) = _tools.Finish();
                    Calls.AddRange(calls);
                    return (Append(content), calls.Count == 0 ? null : new JsonArray(calls.Select((c, i) => (JsonNode)c.ToJson(i)).ToArray()));
                }
                var (tail, callsDelta) = Delta(f.TextDelta);
                if (Mode == ToolChoiceMode.Required && f.Reason != Engine.FinishReason.Abort)
                {
                    Calls.AddRange(ParseRequired());
                    _text.Clear();
                    return ("", Calls.Count == 0 ? null : new JsonArray(Calls.Select((c, i) => (JsonNode)c.ToJson(i)).ToArray()));
                }
                if (Mode == ToolChoiceMode.Named && f.Reason != Engine.FinishReason.Abort)
                {
                    Calls.Add(new ToolCall(_namedId ??= ToolCall.NewId(), _request.Tools!.Named!.Name, _text.ToString()));
                    _text.Clear();
                }
                return (tail, callsDelta);
            default:
                return ("", null);
        }
    }

    private string? _namedId;

    private (string Content, JsonArray? ToolCalls) Delta(string text)
    {
        switch (Mode)
        {
            case ToolChoiceMode.Required:
                _text.Append(text);
                return ("", null);
            case ToolChoiceMode.Named:
                _text.Append(text);
                // The arguments stream as they are generated: the first delta names the call.
                var call = new JsonObject { ["index"] = 0 };
                if (!_namedStarted)
                {
                    _namedStarted = true;
                    call["id"] = _namedId ??= ToolCall.NewId();
                    call["type"] = "function";
                    call["function"] = new JsonObject { ["name"] = _request.Tools!.Named!.Name, ["arguments"] = text };
                }
                else if (text.Length == 0) return ("", null);
                else call["function"] = new JsonObject { ["arguments"] = text };
                return ("", new JsonArray(call));
            default:
                return (Append(text), null);
        }
    }

    private string Append(string text)
    {
        _text.Append(text);
        return text;
    }

    private List<ToolCall> ParseRequired()
    {
        try { return ToolRequest.ParseRequired(_text.ToString()); }
        catch (System.Text.Json.JsonException) { return []; } // cut off by max_tokens: finish_reason says length
    }

    /// <summary>OpenAI's finish_reason: tool_calls when the model called tools (auto, required), else stop/length.</summary>
    public string? FinishReason => End?.Reason switch
    {
        Engine.FinishReason.Length => "length",
        Engine.FinishReason.Stop => Calls.Count > 0 && Mode != ToolChoiceMode.Named ? "tool_calls" : "stop",
        _ => null,
    };

    public JsonArray? ToolCallsJson() => Calls.Count == 0 ? null : new JsonArray(Calls.Select(c => (JsonNode)c.ToJson()).ToArray());
}
