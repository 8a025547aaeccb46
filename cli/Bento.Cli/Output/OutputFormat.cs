using System.CommandLine;
using System.Text.Json.Nodes;
using Bento.Core.Manifest;

namespace Bento.Cli.Output;

/// <summary>The -o option and the JSON/YAML writers shared by list and get.</summary>
public static class OutputFormat
{
    public static Option<string> Option(string defaultValue, params string[] allowed)
    {
        var option = new Option<string>("--output", "-o") { Description = $"Output format: {string.Join(", ", allowed)}", DefaultValueFactory = _ => defaultValue };
        option.AcceptOnlyFromAmong(allowed);
        return option;
    }

    /// <summary><c>--json</c>, the spelling other CLIs use, as a hidden alias of <c>-o json</c>.</summary>
    public static Option<bool> JsonAlias() => new("--json") { Description = "Same as -o json", Hidden = true };

    /// <summary>The format asked for: <c>--json</c> wins over the <c>-o</c> default, and contradicting it is an error.</summary>
    public static string Selected(ParseResult parse, Option<string> output, Option<bool> json)
    {
        var format = parse.GetValue(output)!;
        if (!parse.GetValue(json)) return format;
        var explicitOutput = parse.GetResult(output) is { Implicit: false };
        if (explicitOutput && format != "json")
            throw new Bento.Core.UsageException($"--json contradicts -o {format}; give one of them");
        return "json";
    }

    public static void Write(JsonNode node, string format)
    {
        Console.Out.Write(format == "yaml" ? JsonYaml.ToYaml(node) : node.ToJsonString(ManifestSerializer.Options) + "\n");
    }

    /// <summary>Sizes in tables and summaries: one decimal is enough to compare bentos at a glance.</summary>
    public static string Size(long bytes) => Bento.Core.Serving.ByteSize.Format(bytes, decimals: 1);
}
