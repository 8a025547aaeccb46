using System.CommandLine;
using Bento.Cli.Output;
using Bento.Core;
using Bento.Images.Build;
using Bento.Images.Daemon;
using Bento.Images.Layers;
using Bento.Images.Layout;
using Bento.Images.Oci;
using Bento.Images.Registry;

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
        var command = new Command("containerize", "Build the bento's OCI image without a Docker daemon: to OCI layouts, docker-archives, a Docker engine or a registry")
        {
            tag, outputs, load, push, tags, baseImage, platform, dockerfile, runtime, insecure, source, revision,
        };
        command.SetGuardedAction(async (parse, ct) =>
        {
            // Usage first: nothing is read or built before the command line is known to be good.
            var outputSpecs = (parse.GetValue(outputs) ?? []).Select(OutputSpec.Parse).ToList();
            var references = (parse.GetValue(tags) ?? []).ToList();
            var registries = new List<string>();
            foreach (var r in references)
            {
                if (!ImageReference.TryParse(r, out var parsed, out var error)) throw new UsageException($"invalid -t '{ImageReference.Redact(r)}': {error}");
                registries.Add(parsed.Registry);
            }
            var baseFlag = parse.GetValue(baseImage);
            ImageReference? baseReference = null;
            if (baseFlag is not null && !BaseImageSpec.IsLayout(baseFlag) && !ImageReference.TryParse(baseFlag, out baseReference, out var baseError))
                throw new UsageException($"invalid base image '{ImageReference.Redact(baseFlag)}': {baseError}");
            var sourceFlag = parse.GetValue(source);
            if (sourceFlag is not null && ImageReference.Redact(sourceFlag) != sourceFlag)
                throw new UsageException($"--source '{ImageReference.Redact(sourceFlag)}' carries credentials (USER:TOKEN@), which would be published in the image's labels; give the URL without them");
            var doPush = parse.GetValue(push);
            var doLoad = parse.GetValue(load);
            var contextDir = parse.GetValue(dockerfile);
            if (doPush && references.Count == 0) throw new UsageException("--push needs at least one -t REGISTRY/REPOSITORY:TAG");
            if (outputSpecs.Count == 0 && !doPush && !doLoad && contextDir is null)
                throw new UsageException("nothing to do: give --output oci:DIR or docker-archive:FILE, --load, --push -t REF, or --dockerfile DIR");
            var targetPlatform = PlatformSpec.Parse(parse.GetValue(platform)!);
            var rid = PlatformSpec.RuntimeIdentifier(targetPlatform);
            var runtimeDir = parse.GetValue(runtime);
            if (runtimeDir is not null && !Directory.Exists(runtimeDir)) throw new BentoException($"--runtime {runtimeDir}: no such directory");

            var store = CommandRunner.Store();
            var bento = store.Resolve(CommandRunner.Tag(parse, tag));
            var manifest = bento.Manifest;
            var baseText = baseFlag ?? manifest.Docker.BaseImage ?? BaseImageSpec.DefaultReference;
            if (baseFlag is null && !BaseImageSpec.IsLayout(baseText) && !ImageReference.TryParse(baseText, out baseReference, out var bentoBaseError))
                throw new BentoException($"{manifest.Tag}: the bento's docker.base_image '{ImageReference.Redact(baseText)}' is not a valid image reference: {bentoBaseError}; pass --base-image REF, or fix bentofile.yaml and build again");
            // (bento build refuses labels that carry credentials, so the bento's own source label is clean.)
            var sourceUrl = sourceFlag ?? manifest.Labels.GetValueOrDefault(OciAnnotations.Source);
            var insecureHosts = parse.GetValue(insecure)
                ? registries.Append(baseReference?.Registry).OfType<string>().Distinct().ToList()
                : [];
            using var registry = new RegistryClient(new RegistryOptions { Insecure = insecureHosts });
            var started = DateTime.UtcNow;

            // The base image (pulled layers are downloaded, verified and cached by digest, with progress).
            var baseName = baseReference?.ToString(); // a local path says nothing to whoever pulls the image
            var baseImageValue = await TransferProgress.RunAsync(observer =>
            {
                IImageSource baseSource = baseReference is null
                    ? BaseImageSpec.OpenLayout(baseText)
                    : new RegistryImageSource(registry, baseReference, observer);
                return baseSource.GetAsync(targetPlatform, ct);
            });
            Console.Error.WriteLine($"base image {ImageReference.Redact(baseText)}: {OciDigest.Short(baseImageValue.Manifest.Digest)}, {baseImageValue.Layers.Count} layer(s)");

            // The runtime, published once per version and cached.
            if (runtimeDir is null)
            {
                var publisher = new RuntimePublisher(RuntimePublisher.DefaultCacheRoot(store), m => Console.Error.WriteLine(m));
                runtimeDir = await publisher.GetAsync(RuntimePublisher.LocateRepository(), rid, ct);
            }
            Console.Error.WriteLine($"runtime: {Path.GetFullPath(runtimeDir)}");

            // The image.
            store.EnsureCreated();
            var builder = new LayerBuilder(LayerCache.ForStore(store), m => Console.Error.WriteLine(m));
            var hashes = store.LoadHashCache();
            var assembled = await new ImageAssembler(builder, m => Console.Error.WriteLine(m)).AssembleAsync(bento, baseImageValue, runtimeDir, hashes, new ImageOptions
            {
                Platform = targetPlatform,
                BaseName = baseName,
                Source = sourceUrl,
                Revision = parse.GetValue(revision) ?? manifest.Labels.GetValueOrDefault("org.opencontainers.image.revision"),
            }, ct);
            await hashes.SaveAsync(ct);
            var image = assembled.Image;
            for (var i = 0; i < assembled.Layers.Count; i++)
            {
                var l = assembled.Layers[i];
                Console.Error.WriteLine($"layer {assembled.BaseLayerCount + i + 1}/{image.Layers.Count} {OciDigest.Short(l.Layer.Blob.Descriptor.Digest)} {OutputFormat.Size(l.Layer.Blob.Descriptor.Size),10} {(l.FromCache ? "cached  " : "computed")} {l.Description}");
            }
            Console.Error.WriteLine($"image {manifest.Tag}: {image.Manifest.Digest} ({builder.Stats.ComputedLayers} layer(s) computed, {builder.Stats.CachedLayers} from cache, {OutputFormat.Size(builder.Stats.BytesHashed)} hashed)");

            // The destinations, cheapest first.
            var defaultName = $"{manifest.Name}:{manifest.Version}";
            foreach (var spec in outputSpecs)
            {
                if (spec.Kind == OutputKind.OciLayout)
                {
                    var sink = new OciLayoutSink(spec.Path);
                    await sink.WriteAsync(image, [spec.Reference ?? manifest.Version], ct);
                    Console.Error.WriteLine($"wrote oci:{sink.Directory}:{spec.Reference ?? manifest.Version}");
                }
                else
                {
                    var sink = new DockerArchiveSink(spec.Path);
                    IReadOnlyList<string> names = spec.Reference is not null ? [spec.Reference] : references.Count > 0 ? references : [defaultName];
                    await sink.WriteAsync(image, names, ct);
                    Console.Error.WriteLine($"wrote docker-archive:{sink.Path} ({string.Join(", ", names)}; {OutputFormat.Size(new FileInfo(sink.Path).Length)})");
                }
            }
            if (contextDir is not null)
            {
                var note = baseReference is null ? $"{baseText} ({baseImageValue.Manifest.Digest})" : $"{baseName}@{baseImageValue.Manifest.Digest}";
                var from = baseReference is null ? manifest.Docker.BaseImage ?? BaseImageSpec.DefaultReference : baseName!;
                await DockerfileContext.WriteAsync(contextDir, bento, assembled, runtimeDir, from, note, ct);
                Console.Error.WriteLine($"wrote a docker build context to {Path.GetFullPath(contextDir)} (docker build -t {defaultName} {contextDir})");
            }
            if (doLoad)
            {
                var sink = new DockerDaemonSink();
                IReadOnlyList<string> names = references.Count > 0 ? references : [defaultName];
                await sink.WriteAsync(image, names, ct);
                Console.Error.WriteLine($"loaded into the Docker engine at {sink.Host}: {string.Join(", ", names)}");
            }
            if (doPush)
            {
                var result = await TransferProgress.RunAsync(async observer =>
                {
                    var sink = new RegistrySink(registry, observer);
                    await sink.WriteAsync(image, references, ct);
                    return sink.LastResult!;
                });
                Console.Error.WriteLine(TransferProgress.Summary(result));
            }
            Console.Error.WriteLine($"done in {(DateTime.UtcNow - started).TotalSeconds:0.0} s");
            Console.Out.WriteLine(image.Manifest.Digest);
            return 0;
        });
        return command;
    }
}
