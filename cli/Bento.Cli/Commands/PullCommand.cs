using System.CommandLine;
using Bento.Cli.Output;
using Bento.Images.Artifact;
using Bento.Images.Registry;

namespace Bento.Cli.Commands;

/// <summary>
/// <c>bento pull REF [--insecure]</c>: stores the bento a <c>bento push</c> put at REF, verifying every blob
/// (<see cref="BentoPuller"/>); the last line of stdout is <c>NAME:VERSION</c>, the same version that was pushed.
/// </summary>
public static class PullCommand
{
    public static Command Create()
    {
        var reference = new Argument<string>("REF") { Description = "REGISTRY/REPOSITORY:TAG or REGISTRY/REPOSITORY@sha256:DIGEST of a bento pushed with bento push" };
        var insecure = new Option<bool>("--insecure") { Description = "Allow plain http or an untrusted TLS certificate for REF's registry" };
        var command = new Command("pull", "Pull a bento pushed with bento push into the store (every blob verified)") { reference, insecure };
        command.SetGuardedAction(async (parse, ct) =>
        {
            var source = PushCommand.ParseReference(parse.GetValue(reference)!, "REF");
            var store = CommandRunner.Store();
            using var client = new RegistryClient(new RegistryOptions { Insecure = parse.GetValue(insecure) ? [source.Registry] : [] });
            var started = DateTime.UtcNow;
            var result = await TransferProgress.RunAsync(progress =>
                new BentoPuller(client, store).PullAsync(source, progress, message => Console.Error.WriteLine(message), ct));
            var t = result.Transfer;
            var what = result.Created ? "pulled" : result.Repaired > 0 ? $"repaired {result.Repaired} damaged file(s) of" : "already had";
            Console.Error.WriteLine($"{what} {result.Bento.Tag} from {source} ({result.Digest}): {t.BlobsDownloaded} blob(s) downloaded, " +
                                    $"{OutputFormat.Size(t.BytesReceived)} received in {t.Requests} request(s) in {(DateTime.UtcNow - started).TotalSeconds:0.0} s");
            Console.Out.WriteLine(result.Bento.Tag);
            return 0;
        });
        return command;
    }
}
