using System.CommandLine;
using Bento.Cli.Output;
using Bento.Core;
using Bento.Images.Build;

namespace Bento.Cli.Commands;

/// <summary>
/// <c>bento containerize TAG [--output oci:DIR[:REF] | docker-archive:FILE[:NAME:TAG]]... [--load] [--push -t REF...]
/// [--base-image REF] [--platform linux/amd64] [--dockerfile DIR]</c>: builds the bento's OCI image without a Docker
/// daemon and writes it to every destination given. The last line of stdout is the image's manifest digest.
/// </summary>
public static class ContainerizeCommand
{
    public static Command Create()
    {
        var tag = new Argument<string>("TAG") { Description = "The bento to containerize (NAME, NAME:VERSION, ...)" };
        var outputs = new Option<string[]>("--output")
        {
            Description = $"Write the image to {OutputSpec.Syntax} (repeatable). An OCI layout's REF defaults to the bento version; a docker-archive's tag to NAME:VERSION (or the -t references)",
            AllowMultipleArgumentsPerToken = false,
        };
        var load = new Option<bool>("--load") { Description = "Load the image into the Docker engine at DOCKER_HOST (default unix:///var/run/docker.sock)" };
        var push = new Option<bool>("--push") { Description = "Push the image to every -t reference" };
        var tags = new Option<string[]>("--tag", "-t") { Description = "Image reference REGISTRY/REPOSITORY:TAG (repeatable): where --push goes, and the tags --load and docker-archive give" };
        var baseImage = new Option<string?>("--base-image") { Description = $"Base image: a registry reference, or oci:DIR[:REF] for a local OCI layout (default: the bento's docker.base_image, else {BaseImageSpec.DefaultReference})" };
        var platform = new Option<string>("--platform") { Description = "Target platform (only linux/amd64: LibTorch's native libraries)", DefaultValueFactory = _ => "linux/amd64" };
        var dockerfile = new Option<string?>("--dockerfile") { Description = "Also write a docker build context (Dockerfile + files) producing an equivalent image into this new directory" };
        var runtime = new Option<string?>("--runtime") { Description = "Use this published runtime (dotnet publish runtime/Bento.Runtime -r linux-x64 --self-contained) instead of publishing and caching one" };
        var insecure = new Option<bool>("--insecure") { Description = "Allow plain http or untrusted TLS for the registries named by -t and --base-image" };
        var source = new Option<string?>("--source") { Description = "URL of the source for org.opencontainers.image.source (default: the bento's label of that name, else none)" };
        var revision = new Option<string?>("--revision") { Description = "Source revision (e.g. a git commit) for org.opencontainers.image.revision (default: the bento's label, else none)" };
        var weights = new Option<string?>("--weights")
        {
            Description = "included (default): weights are layers of the image; separate: a slim image without them plus the bento's model artifact " +
                          "(tagged TAG-model next to each -t, REF-model in an OCI layout), which the runtime reads from BENTO_MODEL_DIR and bento deploy mounts as an image volume",
        };
        weights.AcceptOnlyFromAmong(ContainerizeRequest.WeightsIncluded, ContainerizeRequest.WeightsSeparate);
        var sbom = new Option<bool>("--sbom") { Description = "Write an SPDX 2.3 SBOM (IMAGE-DIR.spdx.json) next to each OCI layout, and attach it to each pushed image as an OCI 1.1 referrer" };
        var command = new Command("containerize", "Build the bento's OCI image without a Docker daemon: to OCI layouts, docker-archives, a Docker engine or a registry")
        {
            tag, outputs, load, push, tags, baseImage, platform, dockerfile, runtime, insecure, source, revision, weights, sbom,
        };
        command.SetGuardedAction(async (parse, ct) =>
        {
            // Usage first: nothing is read or built before the command line is known to be good.
            var request = ContainerizeRequest.Parse(parse.GetValue(outputs) ?? [], parse.GetValue(tags) ?? [], parse.GetValue(load), parse.GetValue(push),
                parse.GetValue(baseImage), parse.GetValue(platform)!, parse.GetValue(runtime), parse.GetValue(dockerfile), parse.GetValue(insecure),
                parse.GetValue(source), parse.GetValue(revision)) with
            {
                SeparateWeights = ContainerizeRequest.ParseWeights(parse.GetValue(weights)),
                Sbom = parse.GetValue(sbom),
            };
            if (request.SeparateWeights && (request.DockerfileDirectory is not null || request.Load))
                throw new UsageException("--weights separate makes an image without weights: --dockerfile and --load need one with them (a Docker engine cannot mount a model artifact)");
            var store = CommandRunner.Store();
            var bento = store.Resolve(CommandRunner.Tag(parse, tag));
            var started = DateTime.UtcNow;
            var result = await new ContainerizePipeline(store, new ConsoleContainerizeProgress()).RunAsync(bento, request, ct);
            foreach (var push in result.Publications.Where(p => p.Push is not null)) Console.Error.WriteLine(TransferProgress.Summary(push.Push!));
            Console.Error.WriteLine($"done in {(DateTime.UtcNow - started).TotalSeconds:0.0} s");
            Console.Out.WriteLine(result.Digest);
            return 0;
        });
        return command;
    }
}
