using Bento.Runtime.Tokenization;

namespace Bento.Runtime.Server;

/// <summary>Turns a conversation into the prompt text the model was trained on (its chat template).</summary>
public interface IChatPromptRenderer
{
    /// <exception cref="ApiException">the template rejects the conversation (raise_exception) — a 400.</exception>
    string Render(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt);
}

/// <summary>The model's own chat template from tokenizer_config.json (or chat_template.jinja).</summary>
public sealed class ChatTemplateRenderer : IChatPromptRenderer
{
    private readonly ChatTemplate? _template;
    private readonly HfTokenizer _tokenizer;

    private ChatTemplateRenderer(ChatTemplate? template, HfTokenizer tokenizer) => (_template, _tokenizer) = (template, tokenizer);

    public static ChatTemplateRenderer Load(string modelDirectory, HfTokenizer tokenizer)
    {
        var file = Path.Combine(modelDirectory, "chat_template.jinja");
        var template = File.Exists(file) ? ChatTemplate.Compile(File.ReadAllText(file), "chat_template.jinja") : tokenizer.GetChatTemplate();
        return new ChatTemplateRenderer(template, tokenizer);
    }

    public string Render(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt)
    {
        if (_template is null)
            throw ApiException.BadRequest("this model has no chat template (tokenizer_config.json has no chat_template); use /v1/completions", "messages");
        try { return _template.Render(messages, addGenerationPrompt, _tokenizer.BosToken, _tokenizer.EosToken); }
        catch (TemplateException e) { throw ApiException.BadRequest(e.Message, "messages"); }
    }
}
