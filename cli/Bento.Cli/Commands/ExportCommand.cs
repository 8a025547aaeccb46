using System.CommandLine;
using Bento.Cli.Output;
using Bento.Core.Archive;
using Bento.Core.IO;

namespace Bento.Cli.Commands;

/// <summary><c>bento export TAG DEST</c>: a .bento archive (tar + zstd, manifest first) to a file, a directory or stdout.</summary>
public static class ExportCommand
{
    public static Command Create()
    {
        var tag = new Argument<string>("TAG") { Description = "The bento to export" };
        tag.CompletionSources.Add(TagCompletion.Source);
        var file = new Argument<string>("DEST")
        {
            Description = "A file ('.bento' is appended if missing), a directory (gets NAME-VERSION.bento), or '-' for stdout",
        };
        var command = new Command("export", "Export a bento to a .bento archive (byte-identical every time)") { tag, file };
        command.SetGuardedAction(async (parse, ct) =>
        {
            var store = CommandRunner.Store();
            var bento = store.Resolve(CommandRunner.Tag(parse, tag));
            var meter = new TransferMeter(Console.Error, ProgressBars.Enabled, $"exporting {bento.Tag}", bento.Manifest.TotalSize);
            switch (ExportDestination.Resolve(parse.GetValue(file)!, bento.Manifest))
            {
                case ExportDestination.StandardOutput:
                    // Only the archive goes to stdout; every message goes to stderr.
                    await using (var stdout = Console.OpenStandardOutput())
                        await BentoArchive.ExportToStreamAsync(bento, store, stdout, meter, ct);
                    Console.Error.WriteLine($"Exported {bento.Tag} to stdout");
                    break;
                case ExportDestination.Special special:
                    await using (var output = new FileStream(special.Path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite, 1 << 20, FileOptions.Asynchronous))
                        await BentoArchive.ExportToStreamAsync(bento, store, output, meter, ct);
                    Console.Error.WriteLine($"Exported {bento.Tag} to {special.Path}");
                    break;
                case ExportDestination.File { Path: var destination }:
                    await BentoArchive.ExportToFileAsync(bento, store, destination, meter, ct);
                    Console.Error.WriteLine($"Exported {bento.Tag} to {destination} ({OutputFormat.Size(new FileInfo(destination).Length)})");
                    Console.Out.WriteLine(Path.GetFullPath(destination));
                    break;
            }
            return 0;
        });
        return command;
    }
}

/// <summary><c>bento import FILE|-</c>: every file verified before anything is committed.</summary>
public static class ImportCommand
{
    public static Command Create()
    {
        var file = new Argument<string>("FILE") { Description = "A .bento archive, or '-' to read it from stdin" };
        var command = new Command("import", "Import a .bento archive into the local store") { file };
        command.SetGuardedAction(async (parse, ct) =>
        {
            var store = CommandRunner.Store();
            var source = parse.GetValue(file)!;
            ImportResult result;
            if (source is "-" or "/dev/stdin")
            {
                var meter = new TransferMeter(Console.Error, ProgressBars.Enabled, "importing from stdin", 0);
                await using var stdin = Console.OpenStandardInput();
                result = await BentoArchive.ImportAsync(store, stdin, "stdin", Console.Error.WriteLine, ct, meter);
            }
            else
            {
                var meter = new TransferMeter(Console.Error, ProgressBars.Enabled, $"importing {Path.GetFileName(source)}", 0);
                result = await BentoArchive.ImportAsync(store, source, Console.Error.WriteLine, ct, meter);
            }
            var bento = result.Bento;
            Console.Error.WriteLine(
                result.Created ? $"Imported {bento.Tag}"
                : result.Repaired > 0 ? $"{bento.Tag} was in the store with {result.Repaired} damaged file(s); repaired them from the archive"
                : $"{bento.Tag} is already in the store; nothing to do");
            Console.Out.WriteLine(bento.Tag);
            return 0;
        });
        return command;
    }
}
