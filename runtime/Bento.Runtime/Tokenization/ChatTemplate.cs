using Bento.Runtime.Tokenization.Jinja;

namespace Bento.Runtime.Tokenization;

/// <summary>
/// A compiled chat template: the Jinja program in tokenizer_config.json that turns a list of messages into
/// the model's prompt text. Rendering follows transformers' apply_chat_template (trim_blocks and
/// lstrip_blocks on, <c>raise_exception</c> and <c>strftime_now</c> available, <c>tojson</c> without HTML
/// escaping), so the prompt matches what the model was trained on.
/// </summary>
/// <remarks>Immutable after compilation; render concurrently from any thread.</remarks>
public sealed class ChatTemplate
{
    private readonly IReadOnlyList<TemplateNode> _nodes;
    private readonly Func<DateTime> _clock;

    private ChatTemplate(string source, string name, IReadOnlyList<TemplateNode> nodes, Func<DateTime> clock)
    {
        Source = source;
        Name = name;
        _nodes = nodes;
        _clock = clock;
    }

    /// <summary>Parses <paramref name="source"/>.</summary>
    /// <param name="name">How errors refer to the template ("chat_template line 3: ...").</param>
    /// <param name="clock">Time for <c>strftime_now</c>; the local clock by default (tests pin it).</param>
    /// <exception cref="TemplateException">Syntax errors, unknown tags, filters or tests, with their line.</exception>
    public static ChatTemplate Compile(string source, string name = "chat_template", Func<DateTime>? clock = null)
    {
        ArgumentNullException.ThrowIfNull(source);
        return new ChatTemplate(source, name, TemplateParser.Parse(source, name), clock ?? (() => DateTime.Now));
    }

    public string Source { get; }

    public string Name { get; }

    /// <summary>Renders a conversation the way transformers' apply_chat_template does.</summary>
    /// <param name="addGenerationPrompt">Append the header that opens the assistant's reply.</param>
    /// <param name="variables">Further template variables (e.g. <c>tools</c>, <c>documents</c>,
    /// <c>enable_thinking</c>); they override the standard ones of the same name.</param>
    /// <exception cref="TemplateException">The template failed or rejected the conversation.</exception>
    public string Render(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt, string? bosToken = null, string? eosToken = null,
        IReadOnlyDictionary<string, object?>? variables = null)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var all = new Dictionary<string, object?>(StringComparer.Ordinal)
        {
            ["messages"] = messages,
            ["add_generation_prompt"] = addGenerationPrompt,
            // transformers passes tools and documents as None when absent, so "tools is not none" works
            // and "tools is defined" is true.
            ["tools"] = null,
            ["documents"] = null,
        };
        if (bosToken is not null)
            all["bos_token"] = bosToken;
        if (eosToken is not null)
            all["eos_token"] = eosToken;
        if (variables is not null)
        {
            foreach (var (key, value) in variables)
                all[key] = value;
        }
        return Render(all);
    }

    /// <summary>Renders with exactly the given variables. Values may be strings, numbers, booleans, null,
    /// lists, dictionaries, JSON elements or nodes, and <see cref="ChatMessage"/>s.</summary>
    /// <exception cref="TemplateException">The template failed or rejected the input.</exception>
    public string Render(IReadOnlyDictionary<string, object?> variables)
    {
        ArgumentNullException.ThrowIfNull(variables);
        var globals = new VariableScope(null);
        GlobalFunctions.Install(globals, _clock);
        var top = new VariableScope(globals);
        foreach (var (key, value) in variables)
            top.Set(key, PythonValues.FromClr(value));

        var context = new RenderContext(top, Name);
        TemplateNode.RenderAll(_nodes, context);
        return context.Output.ToString();
    }
}
