namespace Bento.Runtime.Tokenization;

/// <summary>
/// One turn of a conversation as chat templates see it: <c>message['role']</c>,
/// <c>message['content']</c>, plus any other keys the request carried (name, tool_calls, tool_call_id).
/// </summary>
/// <param name="Content">Null for turns without text, such as an assistant turn that only calls tools.</param>
public sealed record ChatMessage(string Role, string? Content)
{
    /// <summary>Further keys of the message dictionary; values may be strings, numbers, booleans, lists,
    /// dictionaries or JSON elements.</summary>
    public IReadOnlyDictionary<string, object?>? Fields { get; init; }
}
