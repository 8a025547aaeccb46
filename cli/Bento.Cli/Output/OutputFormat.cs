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

    public static void Write(JsonNode node, string format)
    {
        Console.Out.Write(format == "yaml" ? JsonYaml.ToYaml(node) : node.ToJsonString(ManifestSerializer.Options) + "\n");
    }

    public static string Size(long bytes)
    {
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB"];
        double value = bytes;
        var unit = 0;
        while (value >= 1024 && unit < units.Length - 1) { value /= 1024; unit++; }
        return unit == 0 ? $"{bytes} B" : $"{value:0.0} {units[unit]}";
    }
}
