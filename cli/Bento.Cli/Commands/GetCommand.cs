using System.CommandLine;
using Bento.Cli.Output;
using Bento.Core.Manifest;

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
        var command = new Command("get", "Show a bento's manifest") { tag, output, json };
        command.SetGuardedAction((parse, _) =>
        {
            var bento = CommandRunner.Store().Resolve(CommandRunner.Tag(parse, tag));
            switch (OutputFormat.Selected(parse, output, json))
            {
                case "path": Console.Out.WriteLine(bento.Directory); break;
                case var format: OutputFormat.Write(ManifestSerializer.ToJsonNode(bento.Manifest), format!); break;
            }
            return Task.FromResult(0);
        });
        return command;
    }
}
