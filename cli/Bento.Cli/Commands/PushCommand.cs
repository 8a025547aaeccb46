using System.CommandLine;
using Bento.Cli.Output;
using Bento.Core;
using Bento.Images.Artifact;
using Bento.Images.Registry;

namespace Bento.Cli.Commands;

/// <summary>
/// <c>bento push TAG REF [--insecure]</c>: pushes the bento as a CNCF ModelPack artifact (<see cref="BentoArtifact"/>)
/// with the registry client (blobs the registry has are skipped, parallel resumable uploads, progress on stderr). The
/// last line of stdout is the artifact's digest; pushing the same bento again sends only HEAD requests and the manifest.
/// </summary>
public static class PushCommand
{
    public static Command Create()
    {
        var tag = new Argument<string>("TAG") { Description = "The bento to push (NAME, NAME:VERSION, ...)" };
        tag.CompletionSources.Add(TagCompletion.Source);
        var reference = new Argument<string>("REF") { Description = "Where to: REGISTRY/REPOSITORY[:TAG] (the tag defaults to the bento's version)" };
        var insecure = new Option<bool>("--insecure") { Description = "Allow plain http or an untrusted TLS certificate for REF's registry" };
        var command = new Command("push", "Push a bento to a registry as an OCI model artifact (CNCF ModelPack)") { tag, reference, insecure };
        command.SetGuardedAction(async (parse, ct) =>
        {
            var text = parse.GetValue(reference)!;
            var target = ParseReference(text, "REF");
            var store = CommandRunner.Store();
            var bento = store.Resolve(CommandRunner.Tag(parse, tag));
            var tagged = text.Contains('@') || text[(text.LastIndexOf('/') + 1)..].Contains(':');
            if (!tagged) target = target.WithTag(bento.Manifest.Version);
            using var client = new RegistryClient(new RegistryOptions { Insecure = parse.GetValue(insecure) ? [target.Registry] : [] });
            var artifact = BentoArtifact.Create(bento, store);
            var result = await TransferProgress.RunAsync(progress => client.PushAsync(PushContent.From(artifact), [target], progress, ct));
            Console.Error.WriteLine(TransferProgress.Summary(result));
            Console.Out.WriteLine(result.Digest);
            return 0;
        });
        return command;
    }

    public static ImageReference ParseReference(string text, string what) =>
        ImageReference.TryParse(text, out var parsed, out var error)
            ? parsed
            : throw new UsageException($"invalid {what} '{ImageReference.Redact(text)}': {error}");
}
