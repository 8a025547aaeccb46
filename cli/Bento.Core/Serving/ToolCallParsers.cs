namespace Bento.Core.Serving;

/// <summary>
/// The tool-call formats the runtime parses from a model's output, with vLLM's <c>--tool-call-parser</c> names:
/// <c>hermes</c> (Hermes, Qwen2.5, Qwen3: <c>&lt;tool_call&gt;{...}&lt;/tool_call&gt;</c>), <c>llama3_json</c> (Llama
/// 3.1+: a <c>{"name", "parameters"}</c> object, after <c>&lt;|python_tag|&gt;</c> or alone), <c>mistral</c>
/// (<c>[TOOL_CALLS][{...}]</c>). <c>auto</c> picks one from the chat template; <c>none</c> parses nothing.
/// </summary>
public static class ToolCallParsers
{
    public const string Auto = "auto";
    public const string Hermes = "hermes";
    public const string Llama3Json = "llama3_json";
    public const string Mistral = "mistral";
    public const string None = "none";

    public static readonly IReadOnlyList<string> All = [Auto, Hermes, Llama3Json, Mistral, None];

}
