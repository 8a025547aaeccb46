using System.Text.Json.Nodes;

namespace Bento.Runtime.Server;

/// <summary>An error answered with OpenAI's error body: <c>{"error": {"message", "type", "param", "code"}}</c>.</summary>
public sealed class ApiException : Exception
{
    public ApiException(int status, string message, string type = "invalid_request_error", string? param = null, string? code = null)
        : base(message) => (Status, Type, Param, Code) = (status, type, param, code);

    public int Status { get; }
    public string Type { get; }
    public string? Param { get; }
    public string? Code { get; }

    public JsonObject ToJson() => Body(Message, Type, Param, Code);

    public static JsonObject Body(string message, string type, string? param = null, string? code = null) => new()
    {
        ["error"] = new JsonObject
        {
            ["message"] = message,
            ["type"] = type,
            ["param"] = param,
            ["code"] = code,
        },
    };

    public static ApiException BadRequest(string message, string? param = null) => new(400, message, "invalid_request_error", param);
}
