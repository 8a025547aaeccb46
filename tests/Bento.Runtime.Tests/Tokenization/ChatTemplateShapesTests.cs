using Bento.Runtime.Tokenization;

namespace Bento.Runtime.Tests.Tokenization;

/// <summary>
/// Templates written here in the shapes the popular model families use (Llama 3 headers, Mistral [INST]
/// with role alternation, Qwen ChatML with a default system prompt and namespace state, Phi-4-mini's tools in the
/// system turn), rendered to exact strings as transformers would (the expected strings of the Phi-4-mini shape were
/// rendered with @huggingface/jinja). Gemma's and Phi-3's published templates are checked on their real files in
/// RealTokenizerFilesTests.
/// </summary>
public sealed class ChatTemplateShapesTests
{
    private const string Llama3Template = """
        {{- bos_token }}
        {%- if messages[0]['role'] == 'system' %}
            {%- set system_message = messages[0]['content'] | trim %}
            {%- set messages = messages[1:] %}
        {%- else %}
            {%- set system_message = "You are a helpful assistant." %}
        {%- endif %}
        {{- '<|start_header_id|>system<|end_header_id|>\n\n' + system_message + '<|eot_id|>' }}
        {%- for message in messages %}
            {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + message['content'] | trim + '<|eot_id|>' }}
        {%- endfor %}
        {%- if add_generation_prompt %}
            {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}
        {%- endif %}
        """;

    private const string MistralTemplate = """
        {{- bos_token }}
        {%- for message in messages %}
            {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}
                {{- raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}
            {%- endif %}
            {%- if message['role'] == 'user' %}
                {{- '[INST] ' + message['content'] + ' [/INST]' }}
            {%- elif message['role'] == 'assistant' %}
                {{- ' ' + message['content'] + eos_token }}
            {%- else %}
                {{- raise_exception('Only user and assistant roles are supported!') }}
            {%- endif %}
        {%- endfor %}
        """;

    private const string ChatMlTemplate = """
        {%- set ns = namespace(last_query_index=-1) %}
        {%- for message in messages %}
            {%- if message.role == 'user' %}
                {%- set ns.last_query_index = loop.index0 %}
            {%- endif %}
        {%- endfor %}
        {%- if messages[0].role != 'system' %}
            {{- '<|im_start|>system\nYou are Qwen, a helpful assistant.<|im_end|>\n' }}
        {%- endif %}
        {%- for message in messages %}
            {%- if message.role == 'assistant' and loop.index0 < ns.last_query_index and '</think>' in message.content %}
                {%- set content = message.content.split('</think>')[-1].lstrip('\n') %}
            {%- else %}
                {%- set content = message.content %}
            {%- endif %}
            {{- '<|im_start|>' + message.role + '\n' + content + '<|im_end|>\n' }}
        {%- endfor %}
        {%- if add_generation_prompt %}
            {{- '<|im_start|>assistant\n' }}
        {%- endif %}
        """;

    /// <summary>Phi-4-mini-instruct's chat_template: tools ride on the system message, no newlines between turns.</summary>
    private const string Phi4MiniTemplate =
        "{% for message in messages %}{% if message['role'] == 'system' and 'tools' in message and message['tools'] is not none %}" +
        "{{ '<|' + message['role'] + '|>' + message['content'] + '<|tool|>' + message['tools'] + '<|/tool|>' + '<|end|>' }}" +
        "{% else %}{{ '<|' + message['role'] + '|>' + message['content'] + '<|end|>' }}{% endif %}{% endfor %}" +
        "{% if add_generation_prompt %}{{ '<|assistant|>' }}{% else %}{{ eos_token }}{% endif %}";

    [Fact]
    public void Phi4MiniShapePutsToolsInTheSystemTurn()
    {
        var template = ChatTemplate.Compile(Phi4MiniTemplate);
        var system = new ChatMessage("system", "You are helpful.")
        {
            Fields = new Dictionary<string, object?> { ["tools"] = """[{"name": "get_weather"}]""" },
        };
        Assert.Equal("""<|system|>You are helpful.<|tool|>[{"name": "get_weather"}]<|/tool|><|end|><|user|>Weather in Paris?<|end|><|assistant|>""",
            template.Render([system, new ChatMessage("user", "Weather in Paris?")], addGenerationPrompt: true, eosToken: "<|endoftext|>"));
        Assert.Equal("<|user|>Hi<|end|><|assistant|>Hello<|end|><|endoftext|>",
            template.Render([new ChatMessage("user", "Hi"), new ChatMessage("assistant", "Hello")], addGenerationPrompt: false, eosToken: "<|endoftext|>"));
    }

    [Fact]
    public void ExampleModelTemplateRendersATwoMessageChat()
    {
        var tokenizer = TokenizerTestFiles.Example;
        var prompt = tokenizer.GetChatTemplate()!.Render(
            [new ChatMessage("system", "You count."), new ChatMessage("user", "1 2 3 4")],
            addGenerationPrompt: true, tokenizer.BosToken, tokenizer.EosToken);
        Assert.Equal(
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou count.<|eot_id|>"
            + "<|start_header_id|>user<|end_header_id|>\n\n1 2 3 4<|eot_id|>"
            + "<|start_header_id|>assistant<|end_header_id|>\n\n",
            prompt);

        // The rendered prompt already carries the BOS; encoding it must not add a second one.
        var ids = tokenizer.Encode(prompt, addSpecialTokens: false);
        Assert.Equal(507, ids[0]);
        Assert.Equal(1, ids.Count(id => id == 507));
        Assert.Equal(3, ids.Count(id => id == 509));
        Assert.Equal(prompt, tokenizer.Decode(ids, skipSpecialTokens: false));
    }

    [Fact]
    public void Llama3ShapeUsesTheGivenSystemMessage()
    {
        var template = ChatTemplate.Compile(Llama3Template);
        var prompt = template.Render([new ChatMessage("system", " You are terse. "), new ChatMessage("user", "Hi there\n")],
            addGenerationPrompt: true, bosToken: "<|begin_of_text|>");
        Assert.Equal(
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are terse.<|eot_id|>"
            + "<|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|>"
            + "<|start_header_id|>assistant<|end_header_id|>\n\n",
            prompt);
    }

    [Fact]
    public void Llama3ShapeFallsBackToADefaultSystemMessage()
    {
        var template = ChatTemplate.Compile(Llama3Template);
        var prompt = template.Render(
            [new ChatMessage("user", "Hi"), new ChatMessage("assistant", "Hello!")],
            addGenerationPrompt: false, bosToken: "<|begin_of_text|>");
        Assert.Equal(
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant.<|eot_id|>"
            + "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
            + "<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>",
            prompt);
    }

    [Fact]
    public void MistralShapeWrapsUserTurnsInInstTags()
    {
        var template = ChatTemplate.Compile(MistralTemplate);
        var prompt = template.Render(
            [new ChatMessage("user", "Hi"), new ChatMessage("assistant", "Hello!"), new ChatMessage("user", "How are you?")],
            addGenerationPrompt: true, bosToken: "<s>", eosToken: "</s>");
        Assert.Equal("<s>[INST] Hi [/INST] Hello!</s>[INST] How are you? [/INST]", prompt);
    }

    [Fact]
    public void MistralShapeRejectsRolesThatDoNotAlternate()
    {
        var template = ChatTemplate.Compile(MistralTemplate);
        var error = Assert.Throws<TemplateException>(() => template.Render(
            [new ChatMessage("user", "Hi"), new ChatMessage("user", "Anyone?")], addGenerationPrompt: true, "<s>", "</s>"));
        Assert.Equal("Conversation roles must alternate user/assistant/user/assistant/...", error.Message);
        Assert.True(error.RaisedByTemplate);
        Assert.Equal(4, error.Line);

        var system = Assert.Throws<TemplateException>(() => template.Render([new ChatMessage("system", "x")], true, "<s>", "</s>"));
        Assert.Equal("Conversation roles must alternate user/assistant/user/assistant/...", system.Message);
        var tool = Assert.Throws<TemplateException>(() => template.Render(
            [new ChatMessage("user", "x"), new ChatMessage("tool", "y")], true, "<s>", "</s>"));
        Assert.Equal("Only user and assistant roles are supported!", tool.Message);
    }

    [Fact]
    public void ChatMlShapeAddsADefaultSystemPromptAndDropsOldReasoning()
    {
        var template = ChatTemplate.Compile(ChatMlTemplate);
        var prompt = template.Render(
            [
                new ChatMessage("user", "What is 2+2?"),
                new ChatMessage("assistant", "<think>\nadd them\n</think>\n\n4"),
                new ChatMessage("user", "And 3+3?"),
            ],
            addGenerationPrompt: true);
        Assert.Equal(
            "<|im_start|>system\nYou are Qwen, a helpful assistant.<|im_end|>\n"
            + "<|im_start|>user\nWhat is 2+2?<|im_end|>\n"
            + "<|im_start|>assistant\n4<|im_end|>\n"
            + "<|im_start|>user\nAnd 3+3?<|im_end|>\n"
            + "<|im_start|>assistant\n",
            prompt);
    }

    [Fact]
    public void ChatMlShapeKeepsTheGivenSystemPromptAndRecentReasoning()
    {
        var template = ChatTemplate.Compile(ChatMlTemplate);
        var prompt = template.Render(
            [
                new ChatMessage("system", "Be brief."),
                new ChatMessage("user", "2+2?"),
                new ChatMessage("assistant", "<think>easy</think>4"),
            ],
            addGenerationPrompt: false);
        Assert.Equal(
            "<|im_start|>system\nBe brief.<|im_end|>\n"
            + "<|im_start|>user\n2+2?<|im_end|>\n"
            + "<|im_start|>assistant\n<think>easy</think>4<|im_end|>\n",
            prompt);
    }

    [Fact]
    public void TemplatesWithoutDashesRelyOnTrimAndLstripBlocks()
    {
        const string template = """
            {% for message in messages %}
                {% if message.role == 'user' %}
            User: {{ message.content }}
                {% else %}
            Bot: {{ message.content }}
                {% endif %}
            {% endfor %}
            {% if add_generation_prompt %}
            Bot:
            {% endif %}

            """;
        var prompt = ChatTemplate.Compile(template).Render(
            [new ChatMessage("user", "Hi"), new ChatMessage("assistant", "Hello")], addGenerationPrompt: true);
        Assert.Equal("User: Hi\nBot: Hello\nBot:\n", prompt);
    }

    [Fact]
    public void MessagesCarryExtraFieldsAndJsonContent()
    {
        const string template =
            "{% for m in messages %}{{ m.role }}:{% if m.tool_calls is defined %}"
            + "{% for call in m.tool_calls %}{{ call.function.name }}({{ call.function.arguments | tojson }}){% endfor %}"
            + "{% else %}{{ m.content }}{% endif %};{% endfor %}";
        var call = System.Text.Json.JsonDocument.Parse("""[{"function": {"name": "add", "arguments": {"a": 1, "b": [2, 3.5], "c": "x\"y"}}}]""").RootElement;
        var prompt = ChatTemplate.Compile(template).Render(
            [new ChatMessage("user", "sum"), new ChatMessage("assistant", null) { Fields = new Dictionary<string, object?> { ["tool_calls"] = call } }],
            addGenerationPrompt: false);
        Assert.Equal("user:sum;assistant:add({\"a\": 1, \"b\": [2, 3.5], \"c\": \"x\\\"y\"});", prompt);
    }
}
