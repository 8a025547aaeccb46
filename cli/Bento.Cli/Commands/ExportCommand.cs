using System.CommandLine;
using Bento.Cli.Output;
using Bento.Core.Archive;

namespace Bento.Cli.Commands;

/// <summary><c>bento export TAG FILE</c>: a .bento archive (tar + zstd, manifest first).</summary>
public static class ExportCommand
{
    public static Command Create()
    {
        var tag = new Argument<string>("TAG") { Description = "The bento to export" };
        var file = new Argument<string>("FILE") { Description = "Destination; '.bento' is appended if missing" };
        var command = new Command("export", "Export a bento to a .bento archive") { tag, file };
        command.SetGuardedAction(async (parse, ct) =>
        {
            var bento = CommandRunner.Store().Resolve(CommandRunner.Tag(parse, tag));
            var destination = parse.GetValue(file)!;
            if (!destination.EndsWith(BentoArchive.Extension, StringComparison.Ordinal)) destination += BentoArchive.Extension;
            await BentoArchive.ExportAsync(bento, destination, ct);
            Console.Error.WriteLine($"Exported {bento.Tag} to {destination} ({OutputFormat.Size(new FileInfo(destination).Length)})");
            Console.Out.WriteLine(Path.GetFullPath(destination));
            return 0;
        });
        return command;
    }
}

/// <summary><c>bento import FILE</c>: every file verified before anything is committed.</summary>
public static class ImportCommand
{
    public static Command Create()
    {
        var file = new Argument<string>("FILE") { Description = "A .bento archive" };
        var command = new Command("import", "Import a .bento archive into the local store") { file };
        command.SetGuardedAction(async (parse, ct) =>
        {
            var (bento, created) = await BentoArchive.ImportAsync(CommandRunner.Store(), parse.GetValue(file)!, Console.Error.WriteLine, ct);
            Console.Error.WriteLine(created ? $"Imported {bento.Tag}" : $"{bento.Tag} is already in the store; nothing to do");
            Console.Out.WriteLine(bento.Tag);
            return 0;
        });
        return command;
    }
}
