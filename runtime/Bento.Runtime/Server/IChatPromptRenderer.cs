using Bento.Runtime.Tokenization;

namespace Bento.Runtime.Server;

/// <summary>Turns a conversation into the prompt text the model was trained on (its chat template).</summary>
public interface IChatPromptRenderer
{
    /// <exception cref="ApiException">the template rejects the conversation (raise_exception) — a 400.</exception>
    string Render(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt) => Render(messages, addGenerationPrompt, null);

    /// <param name="variables">Further template variables, e.g. <c>tools</c> (as transformers passes them).</param>
    string Render(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt, IReadOnlyDictionary<string, object?>? variables);

    /// <summary>The tool-call format of the model's output (a <see cref="ToolCallParsers"/> name), or none.</summary>
    string ToolCallParser => ToolCallParsers.None;
}

/// <summary>The model's own chat template from tokenizer_config.json (or chat_template.jinja).</summary>
public sealed class ChatTemplateRenderer : IChatPromptRenderer
{
    private readonly ChatTemplate? _template;
    private readonly HfTokenizer _tokenizer;

    private ChatTemplateRenderer(ChatTemplate? template, HfTokenizer tokenizer, string toolCallParser) =>
        (_template, _tokenizer, ToolCallParser) = (template, tokenizer, toolCallParser);

    /// <summary>The tool-call format: the setting's, or with auto the one the template shows (none if it shows none).</summary>
    public string ToolCallParser { get; }

    /// <param name="toolCallParser">The tool_call_parser setting (auto: detect from the template).</param>
    public static ChatTemplateRenderer Load(string modelDirectory, HfTokenizer tokenizer, string toolCallParser = ToolCallParsers.Auto)
    {
        var file = Path.Combine(modelDirectory, "chat_template.jinja");
        var template = File.Exists(file) ? ChatTemplate.Compile(File.ReadAllText(file), "chat_template.jinja") : tokenizer.GetChatTemplate();
        // Models with a separate tool-use template (a named "tool_use" template) write calls the way it shows.
        var toolTemplate = tokenizer.ChatTemplates.TryGetValue("tool_use", out var toolUse) ? toolUse : template?.Source;
        var parser = toolCallParser == ToolCallParsers.Auto
            ? Tools.ToolCallFormat.Detect(toolTemplate)?.Name ?? ToolCallParsers.None
            : toolCallParser;
        return new ChatTemplateRenderer(template, tokenizer, parser);
    }

    public string Render(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt, IReadOnlyDictionary<string, object?>? variables)
    {
        if (_template is null)
            throw ApiException.BadRequest("this model has no chat template (tokenizer_config.json has no chat_template); use /v1/completions", "messages");
        try { return _template.Render(messages, addGenerationPrompt, _tokenizer.BosToken, _tokenizer.EosToken, variables); }
        catch (TemplateException e) { throw ApiException.BadRequest(e.Message, "messages"); }
    }
}
