using System.Text.Json.Nodes;
using Bento.Runtime.Engine;
using Bento.Runtime.Engine.Guided;
using Bento.Runtime.Server.Tools;
using Bento.Runtime.Tokenization;

namespace Bento.Runtime.Server;

/// <summary>A validated /v1/completions or /v1/chat/completions request.</summary>
/// <param name="N">Choices to generate for the prompt (OpenAI's n).</param>
internal sealed record ParsedRequest(string Model, IReadOnlyList<int> PromptTokens, SamplingParams Sampling, bool Stream, bool IncludeUsage, int N = 1)
{
    /// <summary>Chat: the tools offered and how the model may call them (null: no tools).</summary>
    public ToolRequest? Tools { get; init; }
    /// <summary>Where calls are parsed from the output (tool_choice auto with a known format).</summary>
    public ToolCallFormat? ToolFormat { get; init; }
    /// <summary>Completions with echo: the prompt text, prepended to each choice's text.</summary>
    public string? Echo { get; init; }
    /// <summary>best_of: sequences generated per prompt, of which the N likeliest are returned.</summary>
    public int BestOf { get; init; }
}

/// <summary>
/// Reads OpenAI request bodies (with presence/frequency penalties, logit_bias, echo, best_of, response_format, tools,
/// plus vLLM's extras: top_k, min_tokens, ignore_eos, stop_token_ids, repetition_penalty, guided_json/regex/choice and
/// structured_outputs). Defaults come from generation_config.json where the model folder sets them. Options we do not
/// implement are refused with a 400 naming them rather than silently ignored.
/// </summary>
internal static class OpenAiRequestParser
{
    public static ParsedRequest Completion(JsonFields f, ITextTokenizer tokenizer, int maxModelLen, GenerationDefaults? defaults = null)
    {
        var model = Model(f);
        var echo = f.Bool("echo") ?? false;
        IReadOnlyList<int> prompt = f["prompt"] switch
        {
            null => throw ApiException.BadRequest("'prompt' is required", "prompt"),
            JsonValue v when v.TryGetValue<string>(out var text) => EncodePrompt(tokenizer, text, addSpecialTokens: true, maxModelLen, "prompt"),
            JsonArray { Count: 1 } a when a[0] is JsonValue v && v.TryGetValue<string>(out var text) => EncodePrompt(tokenizer, text, addSpecialTokens: true, maxModelLen, "prompt"),
            JsonArray a when a.Count > 0 && a.All(x => x is JsonValue xv && xv.TryGetValue<int>(out _)) => f.IntList("prompt"),
            JsonArray { Count: > 1 } => throw ApiException.BadRequest("only one prompt per request is supported", "prompt"),
            _ => throw ApiException.BadRequest("'prompt' must be a string or a list of token ids", "prompt"),
        };
        var sampling = Sampling(f, tokenizer, prompt.Count, maxModelLen, defaultMaxTokens: 16, chat: false, defaults ?? GenerationDefaults.None);
        // echo with logprobs: the prompt's tokens are scored too (vLLM sets prompt_logprobs = logprobs).
        if (echo && sampling.Logprobs is { } top) sampling = sampling with { PromptLogprobs = top };
        sampling = sampling with { Constraint = Compile(tokenizer, GuidedFields(f), sampling) };
        var stream = f.Bool("stream") ?? false;
        var (n, bestOf) = ChoicesAndBestOf(f, stream);
        return new ParsedRequest(model, prompt, sampling, stream, IncludeUsage(f), n)
        {
            Echo = echo ? tokenizer.Decode(prompt, skipSpecialTokens: false) : null,
            BestOf = bestOf,
        };
    }

    public static ParsedRequest Chat(JsonFields f, ITextTokenizer tokenizer, IChatPromptRenderer renderer, int maxModelLen, GenerationDefaults? defaults = null)
    {
        var model = Model(f);
        if (f["messages"] is not JsonArray array) throw ApiException.BadRequest("'messages' must be a list of {role, content}", "messages");
        if (array.Count == 0) throw ApiException.BadRequest("'messages' must not be empty", "messages");
        var messages = array.Select((m, i) => Message(m, i)).ToList();
        var tools = ToolRequest.Parse(f);
        var addGenerationPrompt = f.Bool("add_generation_prompt") ?? true;
        var text = renderer.Render(messages, addGenerationPrompt, TemplateVariables(f, tools));
        // The template already wrote the BOS token where the model expects it.
        var prompt = EncodePrompt(tokenizer, text, addSpecialTokens: false, maxModelLen, "messages");
        var defaultMax = Math.Max(1, maxModelLen - prompt.Count);
        var sampling = Sampling(f, tokenizer, prompt.Count, maxModelLen, defaultMax, chat: true, defaults ?? GenerationDefaults.None);
        var guided = GuidedFields(f);
        ToolCallFormat? format = null;
        if (tools is { Mode: ToolChoiceMode.Required or ToolChoiceMode.Named })
        {
            if (guided is not null) throw ApiException.BadRequest($"tool_choice '{(tools.Mode == ToolChoiceMode.Named ? tools.Named!.Name : "required")}' already constrains the output; drop {guided.Value.Param}", guided.Value.Param);
            guided = (tools.Constraint()!, "tool_choice");
        }
        else if (tools is { Mode: ToolChoiceMode.Auto, Tools.Count: > 0 })
        {
            format = ToolCallFormat.ByName(renderer.ToolCallParser)
                ?? throw ApiException.BadRequest($"tool_choice 'auto' needs to know how this model writes tool calls, and its chat template shows no format this server parses; " +
                    $"set runtime.tool_call_parser ({string.Join(", ", ToolCallParsers.All.Where(p => p is not ToolCallParsers.Auto and not ToolCallParsers.None))}) in the bentofile or {SettingName.ToolCallParser.Env}, or use tool_choice 'required' or a named function", "tool_choice");
        }
        sampling = sampling with { Constraint = Compile(tokenizer, guided, sampling) };
        var stream = f.Bool("stream") ?? false;
        var (n, bestOf) = ChoicesAndBestOf(f, stream);
        return new ParsedRequest(model, prompt, sampling, stream, IncludeUsage(f), n) { Tools = tools, ToolFormat = format, BestOf = bestOf };
    }

    /// <summary>Template variables beyond messages: the tools (HF's apply_chat_template(tools=...)) and vLLM's
    /// chat_template_kwargs (e.g. enable_thinking).</summary>
    private static Dictionary<string, object?>? TemplateVariables(JsonFields f, ToolRequest? tools)
    {
        var variables = new Dictionary<string, object?>(StringComparer.Ordinal);
        if (f["chat_template_kwargs"] is { } kwargs)
        {
            if (kwargs is not JsonObject o) throw ApiException.BadRequest("chat_template_kwargs must be an object", "chat_template_kwargs");
            foreach (var (key, value) in o) variables[key] = value?.DeepClone();
        }
        if (tools is { Tools.Count: > 0 }) variables["tools"] = tools.TemplateTools();
        return variables.Count == 0 ? null : variables;
    }

    /// <summary>
    /// The output constraint a request asks for, in any of the spellings clients use: OpenAI's response_format
    /// (json_object, json_schema), vLLM's guided_json / guided_regex / guided_choice, and vLLM's newer
    /// structured_outputs {json, regex, choice, json_object}. At most one. Invalid or unsupported ones are 400s naming
    /// the field.
    /// </summary>
    private static (GuidedSpec Spec, string Param)? GuidedFields(JsonFields f)
    {
        var found = new List<(GuidedSpec Spec, string Param)>();
        try
        {
            switch (f["response_format"])
            {
                case null: break;
                case JsonObject rf:
                    var type = rf["type"] is JsonValue tv && tv.TryGetValue<string>(out var ts) ? ts : throw ApiException.BadRequest("response_format.type must be text, json_object or json_schema", "response_format");
                    switch (type)
                    {
                        case "text": break;
                        case "json_object": found.Add((GuidedSpec.JsonObject(), "response_format")); break;
                        case "json_schema":
                            if (rf["json_schema"] is not JsonObject js || !js.ContainsKey("schema"))
                                throw ApiException.BadRequest("response_format json_schema needs json_schema: {name, schema}", "response_format");
                            found.Add((GuidedSpec.JsonSchema(js["schema"], "response_format"), "response_format"));
                            break;
                        default: throw ApiException.BadRequest($"response_format.type '{type}' is not text, json_object or json_schema", "response_format");
                    }
                    break;
                default: throw ApiException.BadRequest("response_format must be an object such as {\"type\": \"json_object\"}", "response_format");
            }
            if (f["guided_json"] is { } gj) found.Add((GuidedSpec.JsonSchema(SchemaOf(gj, "guided_json"), "guided_json"), "guided_json"));
            if (f["guided_regex"] is not null) found.Add((GuidedSpec.Regex(f.String("guided_regex")!, "guided_regex"), "guided_regex"));
            if (f["guided_choice"] is not null) found.Add((GuidedSpec.Choice(StringList(f["guided_choice"], "guided_choice"), "guided_choice"), "guided_choice"));
            foreach (var unsupported in new[] { "guided_grammar", "guided_whitespace_pattern" })
                if (f[unsupported] is not null) throw ApiException.BadRequest($"{unsupported} is not supported by this server (guided_json, guided_regex, guided_choice and response_format are)", unsupported);
            switch (f["structured_outputs"])
            {
                case null: break;
                case JsonObject so:
                    foreach (var (key, value) in so)
                    {
                        if (value is null) continue;
                        var param = $"structured_outputs.{key}";
                        switch (key)
                        {
                            case "json": found.Add((GuidedSpec.JsonSchema(SchemaOf(value, param), param), "structured_outputs")); break;
                            case "regex": found.Add((GuidedSpec.Regex(value is JsonValue rv && rv.TryGetValue<string>(out var rs) ? rs : throw ApiException.BadRequest($"{param} must be a string", "structured_outputs"), param), "structured_outputs")); break;
                            case "choice": found.Add((GuidedSpec.Choice(StringList(value, param), param), "structured_outputs")); break;
                            case "json_object":
                                if (value is JsonValue bv && bv.GetValueKind() == System.Text.Json.JsonValueKind.True) found.Add((GuidedSpec.JsonObject(), "structured_outputs"));
                                break;
                            case "disable_any_whitespace" or "disable_fallback" or "disable_additional_properties": break;
                            default: throw ApiException.BadRequest($"structured_outputs.{key} is not supported by this server (json, regex, choice and json_object are)", "structured_outputs");
                        }
                    }
                    break;
                default: throw ApiException.BadRequest("structured_outputs must be an object such as {\"json\": {...}}", "structured_outputs");
            }
        }
        catch (GuidedDecodingException e)
        {
            throw ApiException.BadRequest(e.Message, e.Param.Split('.', '[')[0]);
        }
        if (found.Count > 1)
            throw ApiException.BadRequest($"give one output constraint, not {string.Join(" and ", found.Select(g => g.Param))}", found[1].Param);
        return found.Count == 0 ? null : found[0];
    }

    /// <summary>A schema sent as an object or as JSON text (vLLM accepts both for guided_json).</summary>
    private static JsonNode? SchemaOf(JsonNode node, string param)
    {
        if (node is JsonValue v && v.TryGetValue<string>(out var text))
        {
            try { return JsonNode.Parse(text); }
            catch (System.Text.Json.JsonException e) { throw ApiException.BadRequest($"{param} is not valid JSON: {e.Message}", param.Split('.')[0]); }
        }
        return node;
    }

    private static List<string> StringList(JsonNode? node, string param) =>
        node is JsonArray a && a.All(x => x is JsonValue xv && xv.TryGetValue<string>(out _))
            ? a.Select(x => x!.GetValue<string>()).ToList()
            : throw ApiException.BadRequest($"{param} must be a list of strings", param.Split('.')[0]);

    private static ILogitsConstraintFactory? Compile(ITextTokenizer tokenizer, (GuidedSpec Spec, string Param)? guided, SamplingParams sampling) =>
        guided is { } g ? GuidedCompiler.Compile(tokenizer, g.Spec, sampling.StopTokenIds) : null;

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
        // A missing content (an assistant turn that only calls tools) renders as "", as vLLM's string content format does.
        var content = m["content"] switch
        {
            null => "",
            JsonValue v when v.TryGetValue<string>(out var s) => s,
            JsonArray parts => string.Concat(parts.Select(p => p is JsonObject po && po["type"] is JsonValue pt && pt.TryGetValue<string>(out var type) && type == "text" && po["text"] is JsonValue t && t.TryGetValue<string>(out var ts)
                ? ts
                : throw ApiException.BadRequest($"{where}.content: only text parts are supported", "messages"))),
            _ => throw ApiException.BadRequest($"{where}.content must be a string or a list of text parts", "messages"),
        };
        var fields = new Dictionary<string, object?>(StringComparer.Ordinal);
        if (m["name"] is JsonValue name && name.TryGetValue<string>(out var nameText)) fields["name"] = nameText;
        if (role == "tool")
        {
            if (m["tool_call_id"] is JsonValue id && id.TryGetValue<string>(out var idText)) fields["tool_call_id"] = idText;
        }
        if (m["tool_calls"] is { } calls)
        {
            if (role != "assistant" || calls is not JsonArray callArray) throw ApiException.BadRequest($"{where}.tool_calls must be a list on an assistant message", "messages");
            fields["tool_calls"] = new JsonArray(callArray.Select((c, k) => (JsonNode)TemplateToolCall(c, $"{where}.tool_calls[{k}]")).ToArray());
        }
        return new ChatMessage(role == "developer" ? "system" : role, content) { Fields = fields.Count == 0 ? null : fields };
    }

    /// <summary>
    /// An assistant's earlier call as chat templates expect it (as vLLM passes it): the OpenAI object with
    /// <c>function.arguments</c> parsed from its JSON text into an object, which templates serialize with tojson.
    /// </summary>
    private static JsonObject TemplateToolCall(JsonNode? node, string where)
    {
        if (node is not JsonObject call || call["function"] is not JsonObject function || function["name"] is not JsonValue n || !n.TryGetValue<string>(out _))
            throw ApiException.BadRequest($"{where} must be {{id, type: function, function: {{name, arguments}}}}", "messages");
        var copy = (JsonObject)call.DeepClone();
        var fn = (JsonObject)copy["function"]!;
        if (fn["arguments"] is JsonValue a && a.TryGetValue<string>(out var text))
        {
            try { fn["arguments"] = JsonNode.Parse(text.Length == 0 ? "{}" : text); }
            catch (System.Text.Json.JsonException) { throw ApiException.BadRequest($"{where}.function.arguments is not valid JSON", "messages"); }
        }
        return copy;
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

    /// <summary>n, and best_of (at least n; generates best_of sequences and returns the n with the highest cumulative
    /// logprob, as OpenAI's completions do; not with streaming).</summary>
    private static (int N, int BestOf) ChoicesAndBestOf(JsonFields f, bool stream)
    {
        var n = (int)(f.Integer("n", 1, 128) ?? 1);
        var bestOf = (int)(f.Integer("best_of", 1, 128) ?? n);
        if (bestOf < n) throw ApiException.BadRequest($"best_of ({bestOf}) must be at least n ({n})", "best_of");
        if (bestOf > n && stream) throw ApiException.BadRequest("best_of cannot be used with stream", "best_of");
        return (n, bestOf);
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
    private static SamplingParams Sampling(JsonFields f, ITextTokenizer tokenizer, int promptTokens, int maxModelLen, int defaultMaxTokens, bool chat, GenerationDefaults defaults)
    {
        // vLLM: without max_tokens, chat runs to the end of the context, capped by generation_config's max_new_tokens
        // (completions keep OpenAI's default of 16).
        if (chat && defaults.MaxNewTokens is { } cap) defaultMaxTokens = Math.Min(defaultMaxTokens, cap);
        var maxTokens = f.Integer("max_tokens", 0, int.MaxValue) ?? (chat ? f.Integer("max_completion_tokens", 0, int.MaxValue) : null) ?? defaultMaxTokens;
        var sampling = new SamplingParams
        {
            MaxTokens = (int)maxTokens,
            Temperature = (float)(f.Number("temperature", 0, 2) ?? defaults.Temperature ?? 1.0),
            TopP = (float)(f.Number("top_p", 0, 1) ?? defaults.TopP ?? 1.0),
            TopK = (int)(f.Integer("top_k", -1, int.MaxValue) ?? defaults.TopK ?? 0),
            Seed = f.Integer("seed", long.MinValue, long.MaxValue),
            Stop = f.StringOrList("stop"),
            StopTokenIds = f.IntList("stop_token_ids"),
            IgnoreEos = f.Bool("ignore_eos") ?? false,
            MinTokens = (int)(f.Integer("min_tokens", 0, int.MaxValue) ?? 0),
            PresencePenalty = (float)(f.Number("presence_penalty", -2, 2) ?? 0),
            FrequencyPenalty = (float)(f.Number("frequency_penalty", -2, 2) ?? 0),
            RepetitionPenalty = (float)(f.Number("repetition_penalty", 1e-6, 2) ?? defaults.RepetitionPenalty ?? 1),
            LogitBias = LogitBias(f, tokenizer),
            Logprobs = chat ? ChatLogprobs(f) : CompletionLogprobs(f),
        };
        try { sampling.Validate(promptTokens, maxModelLen); }
        catch (InvalidRequestException e) { throw ApiException.BadRequest(e.Message, e.Param); }
        return sampling;
    }
}
