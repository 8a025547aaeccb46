using Bento.Runtime.Server.Tools;

namespace Bento.Runtime.Tests.Server.Tools;

/// <summary>Reading tool calls out of model output in each family's format, whole and fed in small pieces.</summary>
public sealed class ToolCallFormatTests
{
    public static TheoryData<string, string, string, string[]> Outputs => new()
    {
        { "hermes", "Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>", "Let me check.\n", ["get_weather:{\"city\":\"Paris\"}"] },
        { "hermes", "<tool_call>\n{\"name\": \"a\", \"arguments\": {}}\n</tool_call>\n<tool_call>\n{\"name\": \"b\", \"arguments\": {\"x\": [1, 2]}}\n</tool_call>", "", ["a:{}", "b:{\"x\":[1,2]}"] },
        { "hermes", "No tools needed: 1 < 2.", "No tools needed: 1 < 2.", [] },
        { "hermes", "<tool_call>\n{not json}\n</tool_call>", "<tool_call>\n{not json}\n</tool_call>", [] },
        { "mistral", "[TOOL_CALLS][{\"name\": \"add\", \"arguments\": {\"a\": 1, \"b\": 2}}, {\"name\": \"neg\", \"arguments\": {\"a\": 3}}]", "", ["add:{\"a\":1,\"b\":2}", "neg:{\"a\":3}"] },
        { "mistral", "Sure [TOOL_CALLS][{\"name\": \"add\", \"arguments\": \"{\\\"a\\\": 1}\"}]", "Sure ", ["add:{\"a\": 1}"] },
        { "mistral", "[TOOL_ plain text", "[TOOL_ plain text", [] },
        { "llama3_json", "<|python_tag|>{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Oslo\"}}", "", ["get_weather:{\"city\":\"Oslo\"}"] },
        { "llama3_json", " {\"name\": \"a\", \"parameters\": {}}; {\"name\": \"b\", \"parameters\": {\"k\": true}}", "", ["a:{}", "b:{\"k\":true}"] },
        { "llama3_json", "The answer is {\"name\": 1}", "The answer is {\"name\": 1}", [] },
    };

    [Theory]
    [MemberData(nameof(Outputs))]
    public void Calls_and_content_come_apart_whole_and_in_pieces(string format, string output, string content, string[] calls)
    {
        foreach (var piece in new[] { output.Length, 1, 3, 7 })
        {
            var stream = new ToolCallStream(ToolCallFormat.ByName(format)!);
            var streamed = "";
            for (var i = 0; i < output.Length; i += piece) streamed += stream.Add(output.Substring(i, Math.Min(piece, output.Length - i)));
            var (tail, parsed) = stream.Finish();
            Assert.Equal(content, streamed + tail);
            Assert.Equal(calls, parsed.Select(c => $"{c.Name}:{c.Arguments}"));
            if (calls.Length > 0) Assert.DoesNotContain(ToolCallFormat.ByName(format)!.Marker, streamed);
        }
    }

    [Theory]
    [InlineData("{%- if tools %}<tool_call>\n{{ tool | tojson }}</tool_call>{% endif %}", "hermes")]
    [InlineData("{{- '[AVAILABLE_TOOLS] ' + tools|tojson + '[/AVAILABLE_TOOLS]' }}{{- '[TOOL_CALLS] ' }}", "mistral")]
    [InlineData("{{- '<|python_tag|>' + tool_call.name }}", "llama3_json")]
    [InlineData("{%- for m in messages %}{{ m.content }}{% endfor %}", null)]
    public void The_format_is_read_from_the_chat_template(string template, string? expected) =>
        Assert.Equal(expected, ToolCallFormat.Detect(template)?.Name);
}
