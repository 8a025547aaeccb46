using System.CommandLine;
using Bento.Cli.Output;
using Bento.Core.Build;
using Bento.Core.IO;
using Bento.Core.Spec;
using Bento.Core.Store;

namespace Bento.Cli.Commands;

/// <summary><c>bento build DIR</c>: the last line of stdout is exactly <c>name:version</c>.</summary>
public static class BuildCommand
{
    public static Command Create()
    {
        var directory = new Argument<string>("DIR") { Description = "Folder holding bentofile.yaml (or the bentofile's path)", DefaultValueFactory = _ => "." };
        var followLinks = new Option<bool>(SymlinkPolicy.FollowFlag)
        {
            Description = "Store the files that symbolic links in the model or build folder point to outside those folders " +
                          "(refused by default; links from a Hugging Face cache snapshot into its blobs/ are always followed)",
        };
        var command = new Command("build", "Build a bento from a bentofile and a Hugging Face model folder into the local store") { directory, followLinks };
        command.SetGuardedAction(async (parse, ct) =>
        {
            var store = CommandRunner.Store();
            var argument = parse.GetValue(directory)!;
            if (argument.StartsWith('-')) throw new Bento.Core.UsageException($"unknown option '{argument}' for 'bento build' (see 'bento build --help')");
            var bentofile = BentofileParser.Locate(argument);
            var result = await ProgressBars.RunAsync(observer => new BentoBuilder(store, observer) { FollowExternalSymlinks = parse.GetValue(followLinks) }.BuildAsync(bentofile, ct));
            var m = result.Manifest;
            var ingest = string.Join(", ", result.Ingest.Where(kv => kv.Value > 0).Select(kv => $"{kv.Value} {Describe(kv.Key)}"));
            Console.Error.WriteLine(
                result.Repaired > 0
                    ? $"Repaired {m.Tag}: {result.Repaired} damaged file(s) in the store restored from the sources (blobs: {ingest})"
                    : result.Created
                        ? $"Built {m.Tag}: {m.Model.Files.Count + m.Files.Count} files, {OutputFormat.Size(m.TotalSize)} ({result.FilesHashed} hashed, {result.FilesFromCache} from cache; blobs: {ingest})"
                        : $"{m.Tag} already exists with identical content; nothing to do ({result.FilesHashed} hashed, {result.FilesFromCache} from cache)");
            Console.Out.WriteLine(m.Tag);
            return 0;
        });
        return command;
    }

    private static string Describe(IngestMethod method) => method switch
    {
        IngestMethod.AlreadyStored => "already stored",
        IngestMethod.HardLink => "hard-linked",
        IngestMethod.Reflink => "reflinked",
        _ => "copied",
    };
}
