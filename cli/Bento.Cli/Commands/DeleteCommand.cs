using System.CommandLine;
using Bento.Cli.Output;
using Bento.Core;
using Bento.Core.Store;

namespace Bento.Cli.Commands;

/// <summary><c>bento delete TAG... [-y]</c>: removes the bentos and every blob no other bento uses.</summary>
public static class DeleteCommand
{
    public static Command Create()
    {
        var tags = new Argument<string[]>("TAG")
        {
            Description = "NAME (every version of NAME), NAME:latest or NAME:VERSION; several may be given",
            Arity = ArgumentArity.OneOrMore,
        };
        tags.CompletionSources.Add(TagCompletion.Source);
        var yes = new Option<bool>("--yes", "-y") { Description = "Do not ask for confirmation" };
        var command = new Command("delete", "Delete bentos from the local store (NAME alone: every version of it)") { tags, yes };
        command.SetGuardedAction(async (parse, ct) =>
        {
            var store = CommandRunner.Store();
            var parsedTags = parse.GetValue(tags)!.Select(t => CommandRunner.Tag(parse, t)).ToList();
            var bentos = BentoSelector.ForDelete(store, parsedTags);
            if (!parse.GetValue(yes))
            {
                var what = bentos.Count == 1 ? bentos[0].Tag : $"{bentos.Count} bentos ({string.Join(", ", bentos.Select(b => b.Tag))})";
                if (Console.IsInputRedirected)
                    throw new UsageException($"refusing to delete {what} without confirmation; pass -y");
                Console.Error.Write($"Delete {what} ({OutputFormat.Size(bentos.Sum(b => b.Manifest.TotalSize))})? [y/N] ");
                if (Console.ReadLine()?.Trim().ToLowerInvariant() is not ("y" or "yes"))
                {
                    Console.Error.WriteLine("Aborted; nothing deleted.");
                    return 1;
                }
            }
            foreach (var (tag, freed) in await store.DeleteSelectedAsync(bentos, Console.Error.WriteLine, ct))
                Console.Error.WriteLine(freed is null ? $"{tag} was already deleted (by another command)" : $"Deleted {tag}; removed {freed.Count} unreferenced blob(s)");
            return 0;
        });
        return command;
    }
}
