using System.Text;
using System.Text.Json.Nodes;
using Bento.Runtime.Engine;
using Bento.Runtime.Tokenization;

namespace Bento.Runtime.Server;

/// <summary>
/// OpenAI's two logprobs shapes for a run of generated tokens. Chat: <c>{"content": [{token, logprob, bytes,
/// top_logprobs: [{token, logprob, bytes}]}]}</c>. Completions: <c>{tokens, token_logprobs, top_logprobs: [{token:
/// logprob}], text_offset}</c>. A token's text is the tokenizer's decoding of that one id, as vLLM reports it.
/// </summary>
public sealed class LogprobsJson(ITextTokenizer tokenizer, bool chat)
{
    private int _textOffset;

    private string Text(int id) => tokenizer.Decode([id], skipSpecialTokens: false);

    private static JsonArray Bytes(string text) => new(Encoding.UTF8.GetBytes(text).Select(b => (JsonNode)(int)b).ToArray());

    /// <summary>The logprobs of <paramref name="tokens"/>; completions' text_offset continues from the previous call.</summary>
    public JsonObject For(IReadOnlyList<(int Id, TokenLogprobs? Logprobs)> tokens) => chat ? Chat(tokens) : Completion(tokens);

    private JsonObject Chat(IReadOnlyList<(int Id, TokenLogprobs? Logprobs)> tokens) => new()
    {
        ["content"] = new JsonArray(tokens.Select(t =>
        {
            var text = Text(t.Id);
            return (JsonNode)new JsonObject
            {
                ["token"] = text,
                ["logprob"] = t.Logprobs!.Logprob,
                ["bytes"] = Bytes(text),
                ["top_logprobs"] = new JsonArray(t.Logprobs.Top.Select(alt =>
                {
                    var altText = Text(alt.Id);
                    return (JsonNode)new JsonObject { ["token"] = altText, ["logprob"] = alt.Logprob, ["bytes"] = Bytes(altText) };
                }).ToArray()),
            };
        }).ToArray()),
    };

    private JsonObject Completion(IReadOnlyList<(int Id, TokenLogprobs? Logprobs)> tokens)
    {
        var texts = new JsonArray();
        var logprobs = new JsonArray();
        var tops = new JsonArray();
        var offsets = new JsonArray();
        foreach (var (id, lp) in tokens)
        {
            var text = Text(id);
            texts.Add(text);
            // An echoed prompt's first token has no logprob (nothing precedes it): null, as OpenAI and vLLM send.
            logprobs.Add(lp is null ? null : (JsonNode)lp.Logprob);
            JsonObject? top = null;
            if (lp is not null)
            {
                top = new JsonObject();
                // Keyed by text, so two ids that decode alike share a key; the likelier one (listed first) keeps it.
                foreach (var alt in lp.Top) top.TryAdd(Text(alt.Id), alt.Logprob);
            }
            tops.Add(top);
            offsets.Add(_textOffset);
            _textOffset += text.Length;
        }
        return new JsonObject { ["tokens"] = texts, ["token_logprobs"] = logprobs, ["top_logprobs"] = tops, ["text_offset"] = offsets };
    }
}
