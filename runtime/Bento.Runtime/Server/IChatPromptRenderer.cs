namespace Bento.Runtime.Server;

/// <summary>One chat message as the chat template sees it.</summary>
public sealed record ChatMessage(string Role, string Content);

/// <summary>Turns a conversation into the prompt text the model was trained on (its chat template).</summary>
public interface IChatPromptRenderer
{
    /// <exception cref="ApiException">the template rejects the conversation (raise_exception) — a 400.</exception>
    string Render(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt);
}
