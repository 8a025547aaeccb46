using System.CommandLine;
using System.Text.Json.Nodes;
using Bento.Cli.Output;
using Bento.Core.Store;

namespace Bento.Cli.Commands;

/// <summary><c>bento list [NAME-PREFIX|NAME:latest|NAME:VERSION] [-o table|json|yaml] [-q]</c></summary>
public static class ListCommand
{
    public static Command Create()
    {
        var filter = new Argument<string?>("FILTER")
        {
            Description = "A name prefix (tiny lists tiny-llama), NAME:latest, or NAME:VERSION (a version prefix)",
            Arity = ArgumentArity.ZeroOrOne,
        };
        filter.CompletionSources.Add(TagCompletion.Source);
        var output = OutputFormat.Option("table", "table", "json", "yaml");
        var json = OutputFormat.JsonAlias();
        var quiet = new Option<bool>("--quiet", "-q") { Description = "Print only the tags, one per line" };
        var command = new Command("list", "List the bentos in the local store") { filter, output, json, quiet };
        command.SetGuardedAction((parse, _) =>
        {
            var store = CommandRunner.Store();
            var text = parse.GetValue(filter);
            if (text is not null && text.StartsWith('-')) throw UsageErrors.UnknownOption(parse.CommandResult.Command, text);
            var bentos = BentoSelector.ForList(store, text)
                .OrderBy(b => b.Manifest.Name, StringComparer.Ordinal).ThenByDescending(b => b.Manifest.Created)
                // Two builds in the same second have the same created time: the one latest points at comes first.
                .ThenByDescending(b => store.ReadLatest(b.Manifest.Name) == b.Manifest.Version).ToList();
            if (parse.GetValue(quiet))
            {
                foreach (var b in bentos) Console.Out.WriteLine(b.Tag);
                return Task.FromResult(0);
            }
            var format = OutputFormat.Selected(parse, output, json);
            if (format == "table")
            {
                var rows = bentos.Select(b => new[]
                {
                    b.Tag + (store.ReadLatest(b.Manifest.Name) == b.Manifest.Version ? " (latest)" : ""),
                    OutputFormat.Size(b.Manifest.TotalSize),
                    b.Manifest.Model.Architecture,
                    b.Manifest.Runtime.EnforceEager.Value switch { Bento.Core.Serving.EagerMode.True => "yes", Bento.Core.Serving.EagerMode.False => "no", _ => "auto" },
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
