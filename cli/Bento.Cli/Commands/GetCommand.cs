using System.CommandLine;
using Bento.Cli.Output;
using System.Text.Json;
using Bento.Core.Manifest;
using Bento.Core.Store;

namespace Bento.Cli.Commands;

/// <summary><c>bento get TAG [-o json|yaml|path]</c>: the manifest, or where the bento lives.</summary>
public static class GetCommand
{
    public static Command Create()
    {
        var tag = new Argument<string>("TAG") { Description = "NAME, NAME:latest, NAME:VERSION or a unique version prefix" };
        var output = OutputFormat.Option("yaml", "json", "yaml", "path");
        tag.CompletionSources.Add(TagCompletion.Source);
        var json = OutputFormat.JsonAlias();
        var command = new Command("get", "Show a bento's manifest, and the images pushed for it (pushed_images, newest last)") { tag, output, json };
        command.SetGuardedAction((parse, _) =>
        {
            var store = CommandRunner.Store();
            var bento = store.Resolve(CommandRunner.Tag(parse, tag));
            switch (OutputFormat.Selected(parse, output, json))
            {
                case "path": Console.Out.WriteLine(bento.Directory); break;
                case var format:
                    var node = ManifestSerializer.ToJsonNode(bento.Manifest);
                    var pushed = new PublishedImages(store).Read(bento.Manifest);
                    if (pushed.Count > 0) node["pushed_images"] = JsonSerializer.SerializeToNode(pushed);
                    OutputFormat.Write(node, format!);
                    break;
            }
            return Task.FromResult(0);
        });
        return command;
    }
}
