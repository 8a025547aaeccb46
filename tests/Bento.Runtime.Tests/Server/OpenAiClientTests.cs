using System.ClientModel;
using System.Text;
using OpenAI;
using OpenAI.Chat;

namespace Bento.Runtime.Tests.Server;

/// <summary>The official OpenAI .NET client, unchanged, against our server.</summary>
[Collection("server"), Trait("Category", "Slow")]
public class OpenAiClientTests(SharedServer shared)
{
    private ChatClient Client(string model = "tiny-llama") =>
        new(model, new ApiKeyCredential("unused"), new OpenAIClientOptions { Endpoint = new Uri(shared.Server.BaseUri, "/v1") });

    [Fact]
    public async Task Chat_completion_returns_text_usage_and_finish_reason()
    {
        ChatCompletion completion = await Client().CompleteChatAsync(
            [new UserChatMessage("1 2 3 4")], new ChatCompletionOptions { MaxOutputTokenCount = 6, Temperature = 0f });
        Assert.Equal(ChatMessageRole.Assistant, completion.Role);
        Assert.NotNull(completion.Content[0].Text);
        Assert.True(completion.FinishReason is ChatFinishReason.Length or ChatFinishReason.Stop);
        Assert.True(completion.Usage.InputTokenCount > 4);
        Assert.InRange(completion.Usage.OutputTokenCount, 1, 6);
        Assert.Equal("tiny-llama", completion.Model);
    }

    [Fact]
    public async Task Streaming_chat_gives_the_same_greedy_text_as_non_streaming()
    {
        var options = new ChatCompletionOptions { MaxOutputTokenCount = 12, Temperature = 0f };
        List<OpenAI.Chat.ChatMessage> messages = [new SystemChatMessage("You count."), new UserChatMessage("5 6 7")];
        ChatCompletion whole = await Client().CompleteChatAsync(messages, options);

        var streamed = new StringBuilder();
        ChatFinishReason? finish = null;
        ChatTokenUsage? usage = null;
        await foreach (var update in Client().CompleteChatStreamingAsync(messages, options))
        {
            foreach (var part in update.ContentUpdate) streamed.Append(part.Text);
            finish ??= update.FinishReason;
            usage ??= update.Usage;
        }
        Assert.Equal(whole.Content[0].Text, streamed.ToString());
        Assert.Equal(whole.FinishReason, finish);
        Assert.NotNull(usage);
        Assert.Equal(whole.Usage.OutputTokenCount, usage!.OutputTokenCount);
    }

    [Fact]
    public async Task Unknown_model_is_a_404_the_client_reports()
    {
        var e = await Assert.ThrowsAsync<ClientResultException>(() => Client("gpt-4o").CompleteChatAsync([new UserChatMessage("hi")]));
        Assert.Equal(404, e.Status);
        Assert.Contains("does not exist", e.Message);
    }

    [Fact]
    public async Task Json_schema_response_format_gives_valid_json()
    {
        var schema = BinaryData.FromString(StructuredOutputTests.PersonSchema);
        var valid = 0;
        for (var seed = 0; seed < 6; seed++)
        {
#pragma warning disable OPENAI001 // Seed is marked experimental in the client
            var options = new ChatCompletionOptions
            {
                MaxOutputTokenCount = 300,
                Seed = seed,
                ResponseFormat = ChatResponseFormat.CreateJsonSchemaFormat("person", schema, jsonSchemaIsStrict: true),
            };
#pragma warning restore OPENAI001
            ChatCompletion completion = await Client().CompleteChatAsync([new UserChatMessage("a person")], options);
            if (completion.FinishReason == ChatFinishReason.Length) continue;
            var person = System.Text.Json.Nodes.JsonNode.Parse(completion.Content[0].Text)!;
            Assert.InRange(person["age"]!.GetValue<int>(), 0, 150);
            Assert.True(person["name"]!.GetValue<string>().Length <= 10);
            valid++;
        }
        Assert.True(valid >= 4, $"{valid} of 6");
    }

    private static readonly ChatTool Weather = ChatTool.CreateFunctionTool("get_weather", "Weather in a city",
        BinaryData.FromString("""{"type":"object","properties":{"city":{"type":"string","maxLength":12},"days":{"type":"integer","minimum":1,"maximum":7}},"required":["city","days"]}"""));

    [Fact]
    public async Task Required_tool_calls_come_back_as_tool_calls_and_the_history_renders()
    {
        var options = new ChatCompletionOptions { MaxOutputTokenCount = 200, Tools = { Weather }, ToolChoice = ChatToolChoice.CreateRequiredChoice(), AllowParallelToolCalls = false };
        List<OpenAI.Chat.ChatMessage> messages = [new UserChatMessage("weather in oslo?")];
        ChatCompletion completion = await Client().CompleteChatAsync(messages, options);
        Assert.Equal(ChatFinishReason.ToolCalls, completion.FinishReason);
        var call = Assert.Single(completion.ToolCalls);
        Assert.Equal("get_weather", call.FunctionName);
        var args = System.Text.Json.Nodes.JsonNode.Parse(call.FunctionArguments.ToString())!;
        Assert.InRange(args["days"]!.GetValue<int>(), 1, 7);

        // The call and its result go back in the history, as applications do; the template renders them.
        messages.Add(new AssistantChatMessage(completion.ToolCalls));
        messages.Add(new ToolChatMessage(call.Id, """{"temperature": 3}"""));
        ChatCompletion answer = await Client().CompleteChatAsync(messages, new ChatCompletionOptions { MaxOutputTokenCount = 5, Tools = { Weather }, ToolChoice = ChatToolChoice.CreateNoneChoice() });
        Assert.NotNull(answer.Content);
    }

    [Fact]
    public async Task A_named_tool_call_streams_as_tool_call_updates()
    {
        var options = new ChatCompletionOptions { MaxOutputTokenCount = 200, Tools = { Weather }, ToolChoice = ChatToolChoice.CreateFunctionChoice("get_weather") };
        string? id = null, name = null;
        var arguments = new StringBuilder();
        ChatFinishReason? finish = null;
        await foreach (var update in Client().CompleteChatStreamingAsync([new UserChatMessage("weather?")], options))
        {
            foreach (var part in update.ToolCallUpdates)
            {
                Assert.Equal(0, part.Index);
                id ??= part.ToolCallId;
                name ??= part.FunctionName;
                if (part.FunctionArgumentsUpdate is { } chunk && !chunk.ToMemory().IsEmpty) arguments.Append(chunk.ToString());
            }
            finish ??= update.FinishReason;
        }
        Assert.Equal("get_weather", name);
        Assert.StartsWith("chatcmpl-tool-", id);
        if (finish == ChatFinishReason.Length) return;
        Assert.InRange(System.Text.Json.Nodes.JsonNode.Parse(arguments.ToString())!["days"]!.GetValue<int>(), 1, 7);
    }
}
