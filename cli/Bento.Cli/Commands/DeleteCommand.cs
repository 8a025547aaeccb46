using System.CommandLine;
using Bento.Cli.Output;
using Bento.Core;

namespace Bento.Cli.Commands;

/// <summary><c>bento delete TAG [-y]</c>: removes the bento and every blob no other bento uses.</summary>
public static class DeleteCommand
{
    public static Command Create()
    {
        var tag = new Argument<string>("TAG") { Description = "NAME:VERSION (or NAME / NAME:latest for the latest version)" };
        var yes = new Option<bool>("--yes", "-y") { Description = "Do not ask for confirmation" };
        var command = new Command("delete", "Delete a bento from the local store") { tag, yes };
        command.SetGuardedAction(async (parse, ct) =>
        {
            var store = CommandRunner.Store();
            var bento = store.Resolve(CommandRunner.Tag(parse, tag));
            if (!parse.GetValue(yes))
            {
                if (Console.IsInputRedirected)
                    throw new UsageException($"refusing to delete {bento.Tag} without confirmation; pass -y");
                Console.Error.Write($"Delete {bento.Tag} ({OutputFormat.Size(bento.Manifest.TotalSize)})? [y/N] ");
                if (Console.ReadLine()?.Trim().ToLowerInvariant() is not ("y" or "yes"))
                {
                    Console.Error.WriteLine("Aborted; nothing deleted.");
                    return 1;
                }
            }
            using (await store.LockAsync(Console.Error.WriteLine, ct))
            {
                bento = store.Resolve(new BentoTag(bento.Manifest.Name, bento.Manifest.Version));
                var freed = await store.DeleteAsync(bento, ct);
                Console.Error.WriteLine($"Deleted {bento.Tag}; removed {freed.Count} unreferenced blob(s)");
            }
            return 0;
        });
        return command;
    }
}
