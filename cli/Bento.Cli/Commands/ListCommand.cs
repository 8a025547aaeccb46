using System.CommandLine;
using System.Text.Json.Nodes;
using Bento.Cli.Output;

namespace Bento.Cli.Commands;

/// <summary><c>bento list [NAME] [-o table|json|yaml]</c></summary>
public static class ListCommand
{
    public static Command Create()
    {
        var name = new Argument<string?>("NAME") { Description = "Only bentos with this name", Arity = ArgumentArity.ZeroOrOne };
        var output = OutputFormat.Option("table", "table", "json", "yaml");
        var command = new Command("list", "List the bentos in the local store") { name, output };
        command.SetGuardedAction((parse, _) =>
        {
            var store = CommandRunner.Store();
            var filter = parse.GetValue(name);
            if (filter is not null) Bento.Core.BentoTag.Parse(filter);
            var bentos = store.List().Where(b => filter is null || b.Manifest.Name == filter)
                .OrderBy(b => b.Manifest.Name, StringComparer.Ordinal).ThenByDescending(b => b.Manifest.Created).ToList();
            var format = parse.GetValue(output)!;
            if (format == "table")
            {
                var rows = bentos.Select(b => new[]
                {
                    b.Tag + (store.ReadLatest(b.Manifest.Name) == b.Manifest.Version ? " (latest)" : ""),
                    OutputFormat.Size(b.Manifest.TotalSize),
                    b.Manifest.Model.Architecture,
                    b.Manifest.Runtime.EnforceEager.Value ? "yes" : "no",
                    b.Manifest.Created.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss"),
                }).ToList();
                Table.Write(["TAG", "SIZE", "ARCHITECTURE", "ENFORCE_EAGER", "CREATED (UTC)"], rows);
                return Task.FromResult(0);
            }
            var array = new JsonArray(bentos.Select(b => (JsonNode)new JsonObject
            {
                ["tag"] = b.Tag,
                ["name"] = b.Manifest.Name,
                ["version"] = b.Manifest.Version,
                ["created"] = b.Manifest.Created.ToString("yyyy-MM-ddTHH:mm:ssZ"),
                ["size"] = b.Manifest.TotalSize,
                ["architecture"] = b.Manifest.Model.Architecture,
                ["latest"] = store.ReadLatest(b.Manifest.Name) == b.Manifest.Version,
                ["labels"] = new JsonObject(b.Manifest.Labels.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))),
            }).ToArray());
            OutputFormat.Write(array, format);
            return Task.FromResult(0);
        });
        return command;
    }
}
