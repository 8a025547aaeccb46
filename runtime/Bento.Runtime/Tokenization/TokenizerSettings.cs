using System.Text.Json;

namespace Bento.Runtime.Tokenization;

/// <summary>
/// What transformers reads next to tokenizer.json: special-token names and flags from
/// tokenizer_config.json and special_tokens_map.json, stop ids from generation_config.json, and chat
/// templates from tokenizer_config.json, chat_template.jinja or chat_template.json.
/// </summary>
internal sealed class TokenizerSettings
{
    public string? BosToken { get; private set; }
    public string? EosToken { get; private set; }
    public bool? AddBosToken { get; private set; }
    public bool? AddEosToken { get; private set; }
    public string? TokenizerClass { get; private set; }
    public int? GenerationBosTokenId { get; private set; }
    public List<int> GenerationEosTokenIds { get; } = [];
    /// <summary>tokenizer_config.json's added_tokens_decoder, which may name tokens tokenizer.json lacks.</summary>
    public List<AddedToken> ConfigAddedTokens { get; } = [];
    /// <summary>Templates by name; a template given as a plain string is named "default".</summary>
    public Dictionary<string, string> ChatTemplates { get; } = new(StringComparer.Ordinal);

    public const string DefaultTemplateName = "default";

    /// <param name="chatTemplateJinja">Contents of chat_template.jinja, which newer transformers write
    /// instead of the tokenizer_config.json field and which then takes precedence.</param>
    /// <param name="chatTemplateJson">Contents of chat_template.json ({"chat_template": ...}), the
    /// processor-era location, used only when nothing else names a template.</param>
    public static TokenizerSettings Parse(string? tokenizerConfigJson, string? generationConfigJson, string? specialTokensMapJson,
        string? chatTemplateJinja = null, string? chatTemplateJson = null)
    {
        var settings = new TokenizerSettings();
        if (tokenizerConfigJson is not null)
            settings.ReadTokenizerConfig(ParseObject(tokenizerConfigJson, "tokenizer_config.json"));
        // transformers lets special_tokens_map.json override tokenizer_config.json's token names.
        if (specialTokensMapJson is not null)
        {
            var map = ParseObject(specialTokensMapJson, "special_tokens_map.json");
            settings.BosToken = map.TokenContentField("bos_token") ?? settings.BosToken;
            settings.EosToken = map.TokenContentField("eos_token") ?? settings.EosToken;
        }
        if (generationConfigJson is not null)
            settings.ReadGenerationConfig(ParseObject(generationConfigJson, "generation_config.json"));
        if (chatTemplateJinja is not null)
            settings.ChatTemplates[DefaultTemplateName] = chatTemplateJinja;
        if (settings.ChatTemplates.Count == 0 && chatTemplateJson is not null)
            settings.ReadChatTemplate(ParseObject(chatTemplateJson, "chat_template.json"), "chat_template.json");
        return settings;
    }

    private void ReadTokenizerConfig(JsonElement config)
    {
        BosToken = config.TokenContentField("bos_token");
        EosToken = config.TokenContentField("eos_token");
        AddBosToken = config.OptionalBoolField("add_bos_token");
        AddEosToken = config.OptionalBoolField("add_eos_token");
        TokenizerClass = config.StringField("tokenizer_class");
        ReadChatTemplate(config, "tokenizer_config.json");

        if (config.Field("added_tokens_decoder") is { ValueKind: JsonValueKind.Object } added)
        {
            foreach (var entry in added.EnumerateObject())
            {
                if (!int.TryParse(entry.Name, out var id) || entry.Value.StringField("content") is not { } content)
                    continue;
                var token = entry.Value;
                ConfigAddedTokens.Add(new AddedToken(id, content,
                    Special: token.BoolField("special", false),
                    SingleWord: token.BoolField("single_word", false),
                    LStrip: token.BoolField("lstrip", false),
                    RStrip: token.BoolField("rstrip", false),
                    Normalized: token.BoolField("normalized", !token.BoolField("special", false))));
            }
        }
    }

    /// <summary>chat_template is a string, or a list of {name, template} (models with separate templates
    /// for tool use or RAG).</summary>
    private void ReadChatTemplate(JsonElement config, string file)
    {
        switch (config.Field("chat_template"))
        {
            case { ValueKind: JsonValueKind.String } text:
                ChatTemplates[DefaultTemplateName] = text.GetString()!;
                break;
            case { ValueKind: JsonValueKind.Array } list:
                foreach (var item in list.EnumerateArray())
                {
                    if (item.StringField("name") is { } name && item.StringField("template") is { } template)
                        ChatTemplates[name] = template;
                    else
                        throw new TokenizerFormatException($"{file}: chat_template list entries need a name and a template");
                }
                break;
            case { } other:
                throw new TokenizerFormatException($"{file}: chat_template must be a string or a list, not {other.ValueKind}");
        }
    }

    private void ReadGenerationConfig(JsonElement config)
    {
        if (config.Field("bos_token_id") is { ValueKind: JsonValueKind.Number } bos && bos.TryGetInt32(out var bosId))
            GenerationBosTokenId = bosId;
        switch (config.Field("eos_token_id"))
        {
            case { ValueKind: JsonValueKind.Number } single when single.TryGetInt32(out var id):
                GenerationEosTokenIds.Add(id);
                break;
            case { ValueKind: JsonValueKind.Array } list:
                foreach (var item in list.EnumerateArray())
                {
                    if (item.ValueKind == JsonValueKind.Number && item.TryGetInt32(out var listed))
                        GenerationEosTokenIds.Add(listed);
                }
                break;
        }
    }

    private static JsonElement ParseObject(string json, string file)
    {
        try
        {
            using var document = JsonDocument.Parse(json, new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
            if (document.RootElement.ValueKind != JsonValueKind.Object)
                throw new TokenizerFormatException($"{file}: expected a JSON object");
            return document.RootElement.Clone();
        }
        catch (JsonException e)
        {
            throw new TokenizerFormatException($"{file}: not valid JSON: {e.Message}", e);
        }
    }
}
