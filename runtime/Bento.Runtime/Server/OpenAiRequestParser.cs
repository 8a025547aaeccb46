using System.Text.Json.Nodes;
using Bento.Runtime.Engine;
using Bento.Runtime.Tokenization;

namespace Bento.Runtime.Server;

/// <summary>A validated /v1/completions or /v1/chat/completions request.</summary>
/// <param name="N">Choices to generate for the prompt (OpenAI's n).</param>
internal sealed record ParsedRequest(string Model, IReadOnlyList<int> PromptTokens, SamplingParams Sampling, bool Stream, bool IncludeUsage, int N = 1);

/// <summary>
/// Reads OpenAI request bodies (with presence/frequency penalties and logit_bias, plus vLLM's extras: top_k,
/// min_tokens, ignore_eos, stop_token_ids, repetition_penalty). Options we do not implement yet (best_of, echo,
/// tools) are refused with a 400 rather than silently ignored.
/// </summary>
internal static class OpenAiRequestParser
{
    public static ParsedRequest Completion(JsonFields f, ITextTokenizer tokenizer, int maxModelLen)
    {
        var model = Model(f);
        RejectUnsupported(f);
        if (f.Bool("echo") == true) throw ApiException.BadRequest("echo is not supported by this server", "echo");
        IReadOnlyList<int> prompt = f["prompt"] switch
        {
            null => throw ApiException.BadRequest("'prompt' is required", "prompt"),
            JsonValue v when v.TryGetValue<string>(out var text) => EncodePrompt(tokenizer, text, addSpecialTokens: true, maxModelLen, "prompt"),
            JsonArray { Count: 1 } a when a[0] is JsonValue v && v.TryGetValue<string>(out var text) => EncodePrompt(tokenizer, text, addSpecialTokens: true, maxModelLen, "prompt"),
            JsonArray a when a.Count > 0 && a.All(x => x is JsonValue xv && xv.TryGetValue<int>(out _)) => f.IntList("prompt"),
            JsonArray { Count: > 1 } => throw ApiException.BadRequest("only one prompt per request is supported", "prompt"),
            _ => throw ApiException.BadRequest("'prompt' must be a string or a list of token ids", "prompt"),
        };
        return new ParsedRequest(model, prompt, Sampling(f, tokenizer, prompt.Count, maxModelLen, defaultMaxTokens: 16, chat: false), f.Bool("stream") ?? false, IncludeUsage(f), Choices(f));
    }

    public static ParsedRequest Chat(JsonFields f, ITextTokenizer tokenizer, IChatPromptRenderer renderer, int maxModelLen)
    {
        var model = Model(f);
        RejectUnsupported(f);
        if (f["tools"] is JsonArray { Count: > 0 }) throw ApiException.BadRequest("tools are not supported by this server", "tools");
        if (f["messages"] is not JsonArray array) throw ApiException.BadRequest("'messages' must be a list of {role, content}", "messages");
        if (array.Count == 0) throw ApiException.BadRequest("'messages' must not be empty", "messages");
        var messages = array.Select((m, i) => Message(m, i)).ToList();
        var addGenerationPrompt = f.Bool("add_generation_prompt") ?? true;
        var text = renderer.Render(messages, addGenerationPrompt);
        // The template already wrote the BOS token where the model expects it.
        var prompt = EncodePrompt(tokenizer, text, addSpecialTokens: false, maxModelLen, "messages");
        var defaultMax = Math.Max(1, maxModelLen - prompt.Count);
        var sampling = Sampling(f, tokenizer, prompt.Count, maxModelLen, defaultMax, chat: true);
        return new ParsedRequest(model, prompt, sampling, f.Bool("stream") ?? false, IncludeUsage(f), Choices(f));
    }

    /// <summary>
    /// vLLM's /tokenize: a <c>prompt</c> (add_special_tokens defaults to true) or chat <c>messages</c> rendered with
    /// the chat template (add_generation_prompt defaults to true, add_special_tokens to false), as the completion
    /// endpoints would tokenize them, within the same max_model_len bound.
    /// </summary>
    public static (string Model, IReadOnlyList<int> Tokens) Tokenize(JsonFields f, ITextTokenizer tokenizer, IChatPromptRenderer renderer, int maxModelLen)
    {
        var model = Model(f);
        if (f.Has("messages"))
        {
            if (f["messages"] is not JsonArray { Count: > 0 } array) throw ApiException.BadRequest("'messages' must be a non-empty list of {role, content}", "messages");
            var text = renderer.Render(array.Select((m, i) => Message(m, i)).ToList(), f.Bool("add_generation_prompt") ?? true);
            return (model, EncodePrompt(tokenizer, text, f.Bool("add_special_tokens") ?? false, maxModelLen, "messages"));
        }
        var prompt = f.String("prompt") ?? throw ApiException.BadRequest("give 'prompt' (text) or 'messages'", "prompt");
        return (model, EncodePrompt(tokenizer, prompt, f.Bool("add_special_tokens") ?? true, maxModelLen, "prompt"));
    }

    /// <summary>vLLM's /detokenize: <c>tokens</c>, each an id in the vocabulary, back to text (special tokens kept).</summary>
    public static (string Model, IReadOnlyList<int> Tokens) Detokenize(JsonFields f, ITextTokenizer tokenizer)
    {
        var model = Model(f);
        if (!f.Has("tokens")) throw ApiException.BadRequest("'tokens' is required", "tokens");
        var tokens = f.IntList("tokens");
        foreach (var t in tokens)
            if (t < 0 || t >= tokenizer.VocabSize)
                throw ApiException.BadRequest($"token id {t} is outside the vocabulary (0 to {tokenizer.VocabSize - 1})", "tokens");
        return (model, tokens);
    }

    private static ChatMessage Message(JsonNode? node, int index)
    {
        var where = $"messages[{index}]";
        if (node is not JsonObject m) throw ApiException.BadRequest($"{where} must be an object with 'role' and 'content'", "messages");
        var role = m["role"] is JsonValue r && r.TryGetValue<string>(out var rs) ? rs : throw ApiException.BadRequest($"{where}.role must be a string", "messages");
        if (role is not ("system" or "user" or "assistant" or "developer" or "tool"))
            throw ApiException.BadRequest($"{where}.role must be system, user, assistant, developer or tool, got '{role}'", "messages");
        var content = m["content"] switch
        {
            null => "",
            JsonValue v when v.TryGetValue<string>(out var s) => s,
            JsonArray parts => string.Concat(parts.Select(p => p is JsonObject po && po["type"] is JsonValue pt && pt.TryGetValue<string>(out var type) && type == "text" && po["text"] is JsonValue t && t.TryGetValue<string>(out var ts)
                ? ts
                : throw ApiException.BadRequest($"{where}.content: only text parts are supported", "messages"))),
            _ => throw ApiException.BadRequest($"{where}.content must be a string or a list of text parts", "messages"),
        };
        return new ChatMessage(role == "developer" ? "system" : role, content);
    }

    /// <summary>
    /// Tokenizes a prompt only as far as it can fit: one with more bytes than max_model_len tokens can cover is refused
    /// unread, and tokenizing stops once it passes max_model_len tokens. So a 20 MB prompt costs milliseconds, not
    /// seconds and hundreds of megabytes.
    /// </summary>
    private static IReadOnlyList<int> EncodePrompt(ITextTokenizer tokenizer, string text, bool addSpecialTokens, int maxModelLen, string field)
    {
        var bytes = System.Text.Encoding.UTF8.GetByteCount(text);
        // 4x: normalizers may shorten text (NFKC composes characters) before tokens are cut from it.
        var fits = (long)maxModelLen * Math.Min(tokenizer.MaxTokenBytes, 1 << 16) * 4 + 1024;
        if (bytes > fits)
            throw ApiException.BadRequest($"this model's maximum context length is {maxModelLen} tokens; the {field} is {bytes} bytes, more than {maxModelLen} tokens can hold; shorten it", field);
        var ids = tokenizer.Encode(text, addSpecialTokens, stopAfter: maxModelLen);
        if (ids.Count > maxModelLen)
            throw ApiException.BadRequest($"this model's maximum context length is {maxModelLen} tokens; the {field} alone has more; shorten it", field);
        return ids;
    }

    private static string Model(JsonFields f) =>
        f.String("model") ?? throw ApiException.BadRequest("'model' is required", "model");

    private static bool IncludeUsage(JsonFields f) =>
        f["stream_options"] is JsonObject o && o["include_usage"] is JsonValue v && v.TryGetValue<bool>(out var b) && b;

    private static int Choices(JsonFields f) => (int)(f.Integer("n", 1, 128) ?? 1);

    private static void RejectUnsupported(JsonFields f)
    {
        if (f.Integer("best_of", 1, 128) is > 1) throw ApiException.BadRequest("best_of > 1 is not supported by this server", "best_of");
    }

    /// <summary>OpenAI's <c>{"TOKEN_ID": bias}</c>; ids must be in the vocabulary, biases from -100 to 100.</summary>
    private static Dictionary<int, float> LogitBias(JsonFields f, ITextTokenizer tokenizer)
    {
        var bias = new Dictionary<int, float>();
        switch (f["logit_bias"])
        {
            case null: return bias;
            case JsonObject o:
                foreach (var (key, value) in o)
                {
                    if (!int.TryParse(key, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var id) || id >= tokenizer.VocabSize)
                        throw ApiException.BadRequest($"logit_bias key '{key}' is not a token id of this model (0 to {tokenizer.VocabSize - 1})", "logit_bias");
                    if (value is not JsonValue v || v.GetValueKind() != System.Text.Json.JsonValueKind.Number || v.GetValue<double>() is not (>= -100 and <= 100))
                        throw ApiException.BadRequest($"logit_bias['{key}'] must be a number from -100 to 100", "logit_bias");
                    bias[id] = (float)v.GetValue<double>();
                }
                return bias;
            default: throw ApiException.BadRequest("logit_bias must be an object of token id to bias", "logit_bias");
        }
    }

    /// <summary>Completions: <c>logprobs: N</c>, the number of alternatives per token (0 to 20).</summary>
    private static int? CompletionLogprobs(JsonFields f) => f["logprobs"] switch
    {
        null => null,
        JsonValue v when v.GetValueKind() == System.Text.Json.JsonValueKind.Number => (int)f.Integer("logprobs", 0, Logprobs.MaxTop)!.Value,
        _ => throw ApiException.BadRequest($"'logprobs' must be an integer from 0 to {Logprobs.MaxTop} on /v1/completions", "logprobs"),
    };

    /// <summary>Chat: <c>logprobs: true</c>, with <c>top_logprobs: N</c> alternatives (0 to 20), which needs logprobs.</summary>
    private static int? ChatLogprobs(JsonFields f)
    {
        var wanted = f.Bool("logprobs") ?? false;
        var top = f.Integer("top_logprobs", 0, Logprobs.MaxTop);
        if (top is not null && !wanted) throw ApiException.BadRequest("top_logprobs needs logprobs: true", "top_logprobs");
        return wanted ? (int)(top ?? 0) : null;
    }

    /// <param name="chat">Chat's spellings: max_completion_tokens as well as max_tokens, and logprobs as a boolean.</param>
    private static SamplingParams Sampling(JsonFields f, ITextTokenizer tokenizer, int promptTokens, int maxModelLen, int defaultMaxTokens, bool chat)
    {
        var maxTokens = f.Integer("max_tokens", 0, int.MaxValue) ?? (chat ? f.Integer("max_completion_tokens", 0, int.MaxValue) : null) ?? defaultMaxTokens;
        var sampling = new SamplingParams
        {
            MaxTokens = (int)maxTokens,
            Temperature = (float)(f.Number("temperature", 0, 2) ?? 1.0),
            TopP = (float)(f.Number("top_p", 0, 1) ?? 1.0),
            TopK = (int)(f.Integer("top_k", -1, int.MaxValue) ?? 0),
            Seed = f.Integer("seed", long.MinValue, long.MaxValue),
            Stop = f.StringOrList("stop"),
            StopTokenIds = f.IntList("stop_token_ids"),
            IgnoreEos = f.Bool("ignore_eos") ?? false,
            MinTokens = (int)(f.Integer("min_tokens", 0, int.MaxValue) ?? 0),
            PresencePenalty = (float)(f.Number("presence_penalty", -2, 2) ?? 0),
            FrequencyPenalty = (float)(f.Number("frequency_penalty", -2, 2) ?? 0),
            RepetitionPenalty = (float)(f.Number("repetition_penalty", 1e-6, 2) ?? 1),
            LogitBias = LogitBias(f, tokenizer),
            Logprobs = chat ? ChatLogprobs(f) : CompletionLogprobs(f),
        };
        try { sampling.Validate(promptTokens, maxModelLen); }
        catch (InvalidRequestException e) { throw ApiException.BadRequest(e.Message, e.Param); }
        return sampling;
    }
}
