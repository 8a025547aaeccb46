using Bento.Core;
using Bento.Core.Serving;
using Bento.Core.Store;
using Bento.Images.Artifact;
using Bento.Images.Daemon;
using Bento.Images.Layers;
using Bento.Images.Layout;
using Bento.Images.Oci;
using Bento.Images.Registry;

namespace Bento.Images.Build;

/// <summary>What <see cref="ContainerizePipeline.RunAsync"/> produced: the image, every sink's publication, the build context.</summary>
public sealed record ContainerizeResult(StoredBento Bento, AssembledImage Assembled, IReadOnlyList<Publication> Publications, string? DockerfileContext, LayerStats LayerStats)
{
    public string Digest => Assembled.Image.Manifest.Digest;
}

/// <summary>
/// <c>bento containerize</c> as one call: resolve the base image (pulled layers verified and cached), publish the
/// runtime (once per version), assemble the image, then write it to every destination asked for, cheapest first, and
/// record pushed references in the store (<see cref="PublishedImages"/>) so <c>bento deploy</c> can pin them.
/// </summary>
public sealed class ContainerizePipeline(BentoStore store, IContainerizeProgress progress)
{
    public async Task<ContainerizeResult> RunAsync(StoredBento bento, ContainerizeRequest request, CancellationToken ct)
    {
        var manifest = bento.Manifest;
        var baseText = request.BaseImage ?? manifest.Docker.BaseImage ?? BaseImageSpec.DefaultReference;
        ImageReference? baseReference = null;
        if (!BaseImageSpec.IsLayout(baseText) && !ImageReference.TryParse(baseText, out baseReference, out var baseError))
            throw new BentoException($"{manifest.Tag}: the bento's docker.base_image '{ImageReference.Redact(baseText)}' is not a valid image reference: {baseError}; pass --base-image REF, or fix bentofile.yaml and build again");
        var insecureHosts = request.Insecure
            ? request.References.Select(r => r.Registry).Append(baseReference?.Registry).OfType<string>().Distinct().ToList()
            : [];
        using var registry = new RegistryClient(new RegistryOptions { Insecure = insecureHosts });

        var baseImage = await progress.PullAsync(observer =>
        {
            IImageSource source = baseReference is null
                ? BaseImageSpec.OpenLayout(baseText)
                : new RegistryImageSource(registry, baseReference, observer);
            return source.GetAsync(request.Platform, ct);
        });
        progress.Log($"base image {ImageReference.Redact(baseText)}: {OciDigest.Short(baseImage.Manifest.Digest)}, {baseImage.Layers.Count} layer(s)");

        var runtimeDir = request.RuntimeDirectory;
        if (runtimeDir is null)
        {
            var publisher = new RuntimePublisher(RuntimePublisher.DefaultCacheRoot(store), progress.Log);
            runtimeDir = await publisher.GetAsync(RuntimePublisher.LocateRepository(), PlatformSpec.RuntimeIdentifier(request.Platform), ct);
        }
        var accelerator = RuntimeLayers.Accelerator(runtimeDir);
        progress.Log($"runtime: {Path.GetFullPath(runtimeDir)}");
        progress.Log($"accelerator: {accelerator}");

        store.EnsureCreated();
        // A slim image names its model artifact by digest; the artifact depends on the bento alone.
        var artifact = request.SeparateWeights ? BentoArtifact.Create(bento, store) : null;
        if (artifact is not null) progress.Log($"model artifact {manifest.Tag}: {artifact.Manifest.Digest} ({artifact.Layers.Count} file(s); weights stay out of the image)");
        var builder = new LayerBuilder(LayerCache.ForStore(store), progress.Log);
        var hashes = store.LoadHashCache();
        var assembled = await new ImageAssembler(builder, progress.Log).AssembleAsync(bento, baseImage, runtimeDir, hashes, new ImageOptions
        {
            Platform = request.Platform,
            BaseName = baseReference?.ToString(), // a local path says nothing to whoever pulls the image
            // (bento build refuses labels that carry credentials, so the bento's own source label is clean.)
            Source = request.Source ?? manifest.Labels.GetValueOrDefault(OciAnnotations.Source),
            Revision = request.Revision ?? manifest.Labels.GetValueOrDefault(OciAnnotations.Revision),
            Accelerator = accelerator,
            ModelArtifactDigest = artifact?.Manifest.Digest,
        }, ct);
        await hashes.SaveAsync(ct);
        var image = assembled.Image;
        for (var i = 0; i < assembled.Layers.Count; i++)
        {
            var l = assembled.Layers[i];
            progress.Log($"layer {assembled.BaseLayerCount + i + 1}/{image.Layers.Count} {OciDigest.Short(l.Layer.Blob.Descriptor.Digest)} {ByteSize.Format(l.Layer.Blob.Descriptor.Size),10} {(l.FromCache ? "cached  " : "computed")} {l.Description}");
        }
        progress.Log($"image {manifest.Tag}: {image.Manifest.Digest} ({builder.Stats.ComputedLayers} layer(s) computed, {builder.Stats.CachedLayers} from cache, {ByteSize.Format(builder.Stats.BytesHashed)} hashed)");

        byte[]? sbom = null;
        if (request.Sbom)
        {
            sbom = await Sbom.SpdxSbom.CreateAsync(bento, assembled, runtimeDir, request.References.FirstOrDefault()?.Name, artifact, ct);
            progress.Log($"SBOM: SPDX 2.3, {ByteSize.Format(sbom.Length)}");
        }
        var publications = new List<Publication>();
        var defaultName = $"{manifest.Name}:{manifest.Version}";
        var names = request.Tags.Count > 0 ? request.Tags : [defaultName];
        foreach (var spec in request.Outputs)
        {
            var publication = spec.Kind == OutputKind.OciLayout
                ? await new OciLayoutSink(spec.Path).WriteAsync(image, [spec.Reference ?? manifest.Version], ct)
                : await new DockerArchiveSink(spec.Path).WriteAsync(image, spec.Reference is not null ? [spec.Reference] : names, ct);
            progress.Log($"wrote {publication.Sink}:{publication.Location} ({string.Join(", ", publication.Names)})");
            publications.Add(publication);
            if (sbom is not null && spec.Kind == OutputKind.OciLayout)
            {
                var sbomPath = Path.GetFullPath(spec.Path).TrimEnd('/') + ".spdx.json";
                await Bento.Core.IO.AtomicFile.WriteAllTextAsync(sbomPath, System.Text.Encoding.UTF8.GetString(sbom), ct);
                progress.Log($"wrote the SBOM to {sbomPath}");
            }
            if (artifact is not null && spec.Kind != OutputKind.OciLayout)
                progress.Log($"note: {publication.Sink}:{publication.Location} holds the slim image only (a docker-archive cannot carry the model artifact); " +
                             $"run it with the bento's directory mounted at {ImageContract.ModelMountDirectory} (docker run -v DIR:{ImageContract.ModelMountDirectory}:ro), " +
                             "or use --push or --output oci: to get the artifact too");
            if (artifact is not null && spec.Kind == OutputKind.OciLayout)
            {
                var name = (spec.Reference ?? manifest.Version) + BentoArtifact.TagSuffix;
                await new OciLayoutSink(spec.Path).WriteAsync(artifact, [name], ct);
                progress.Log($"wrote the model artifact to {publication.Location} ({name})");
            }
        }
        string? contextDir = null;
        if (request.DockerfileDirectory is not null)
        {
            var note = baseReference is null ? $"{baseText} ({baseImage.Manifest.Digest})" : $"{baseReference}@{baseImage.Manifest.Digest}";
            var from = baseReference?.ToString() ?? manifest.Docker.BaseImage ?? BaseImageSpec.DefaultReference;
            await DockerfileContext.WriteAsync(request.DockerfileDirectory, bento, assembled, runtimeDir, from, note, ct);
            contextDir = Path.GetFullPath(request.DockerfileDirectory);
            progress.Log($"wrote a docker build context to {contextDir} (docker build -t {defaultName} {request.DockerfileDirectory})");
        }
        if (request.Load)
        {
            var publication = await new DockerDaemonSink().WriteAsync(image, names, ct);
            progress.Log($"loaded into the Docker engine at {publication.Location}: {string.Join(", ", publication.Names)}");
            publications.Add(publication);
        }
        if (request.Push)
        {
            Publication? artifactPublication = null;
            if (artifact is not null)
            {
                // Next to each image, tagged TAG-model, and before it: a slim image in the registry always finds its
                // weights. Blobs the repository has (the same weights under another runtime or bento version) are not sent again.
                var targets = request.References.Select(r => r.WithTag((r.Tag ?? ImageReference.DefaultTag) + BentoArtifact.TagSuffix)).ToList();
                var pushed = await progress.PushAsync(observer => registry.PushAsync(PushContent.From(artifact), targets, observer, ct));
                artifactPublication = new Publication(Publication.Registry, string.Join(", ", targets.Select(t => t.Name).Distinct()), pushed.Digest,
                    targets.Select(t => t.ToString()).ToList()) { References = targets.Select(t => $"{t.Name}@{pushed.Digest}").Distinct().ToList(), Push = pushed };
            }
            var publication = await progress.PushAsync(observer =>
                new RegistrySink(registry, observer).WriteAsync(image, request.Tags, ct));
            publications.Add(publication);
            if (artifactPublication is not null) publications.Add(artifactPublication);
            if (sbom is not null)
            {
                var (content, referrer) = Sbom.SbomReferrer.Create(sbom, image.Manifest, ImageAssembler.Rfc3339(ImageAssembler.ResolveCreated(manifest)));
                foreach (var repository in request.References.GroupBy(r => r.Name).Select(g => g.First()))
                {
                    await progress.PushAsync(observer => registry.PushReferrerAsync(content, referrer, image.Manifest.Digest, repository, observer, ct));
                    progress.Log($"attached the SBOM to {repository.Name}@{image.Manifest.Digest} ({referrer.Digest})");
                }
            }
            var now = DateTimeOffset.UtcNow;
            await new PublishedImages(store).RecordAsync(manifest, publication.References
                .Select(reference => new PublishedImage(reference, publication.Digest,
                    publication.Names.Where(n => reference.StartsWith(ImageReference.Parse(n).Name + "@", StringComparison.Ordinal)).ToList(), accelerator, now,
                    artifact is null ? null : $"{reference[..reference.IndexOf('@')]}@{artifact.Manifest.Digest}"))
                .ToList(), ct);
        }
        return new ContainerizeResult(bento, assembled, publications, contextDir, builder.Stats);
    }
}
