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
}
