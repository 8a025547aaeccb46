using Bento.Core;
using Bento.Images.Oci;
using Bento.Images.Registry;

namespace Bento.Images.Build;

/// <summary>
/// Everything <c>bento containerize</c> was asked to do, checked before anything is read or built: destinations
/// (<see cref="Outputs"/>, <see cref="Load"/>, <see cref="PushTo"/>, <see cref="DockerfileDirectory"/>), the base and
/// the runtime to use, and the image's source labels.
/// </summary>
public sealed record ContainerizeRequest
{
    public IReadOnlyList<OutputSpec> Outputs { get; init; } = [];
    public bool Load { get; init; }
    public bool Push { get; init; }

    /// <summary>-t references: where a push goes, and the names --load and docker-archives give.</summary>
    public IReadOnlyList<ImageReference> References { get; init; } = [];

    /// <summary>The -t references as the user wrote them: a Docker engine and a docker-archive keep the short form (alpha:v1, not registry-1.docker.io/library/alpha:v1).</summary>
    public IReadOnlyList<string> Tags { get; init; } = [];

    /// <summary>A registry reference or oci:DIR[:REF]; null: the bento's docker.base_image, else <see cref="BaseImageSpec.DefaultReference"/>.</summary>
    public string? BaseImage { get; init; }

    public Platform Platform { get; init; } = ImageAssembler.DefaultPlatform;

    /// <summary>A published runtime to use as is; null publishes (once per version, cached in the store).</summary>
    public string? RuntimeDirectory { get; init; }

    public string? DockerfileDirectory { get; init; }

    /// <summary>Allow plain http or untrusted TLS for the registries of <see cref="References"/> and the base.</summary>
    public bool Insecure { get; init; }

    public string? Source { get; init; }
    public string? Revision { get; init; }

    /// <summary>A slim image (no weight layers) plus the bento's ModelPack artifact, pushed and written beside it.</summary>
    public bool SeparateWeights { get; init; }

    /// <summary>Write an SPDX SBOM next to each OCI layout and attach it to each pushed image as an OCI 1.1 referrer.</summary>
    public bool Sbom { get; init; }

    public const string WeightsIncluded = "included", WeightsSeparate = "separate";

    /// <summary>Reads <c>--weights included|separate</c>.</summary>
    public static bool ParseWeights(string? text) => text switch
    {
        null or WeightsIncluded => false,
        WeightsSeparate => true,
        _ => throw new UsageException($"--weights '{text}': use {WeightsIncluded} (the default: weights are layers of the image) or {WeightsSeparate} (a slim image plus the model artifact)"),
    };

    /// <summary>Reads the command line's words into a request; every mistake is a <see cref="UsageException"/> naming the value.</summary>
    public static ContainerizeRequest Parse(IEnumerable<string> outputs, IEnumerable<string> tags, bool load, bool push, string? baseImage,
        string platform, string? runtimeDirectory, string? dockerfileDirectory, bool insecure, string? source, string? revision)
    {
        var references = new List<ImageReference>();
        var tagTexts = tags.ToList();
        foreach (var r in tagTexts)
        {
            if (!ImageReference.TryParse(r, out var parsed, out var error)) throw new UsageException($"invalid -t '{ImageReference.Redact(r)}': {error}");
            references.Add(parsed);
        }
        if (baseImage is not null && !BaseImageSpec.IsLayout(baseImage) && !ImageReference.TryParse(baseImage, out _, out var baseError))
            throw new UsageException($"invalid base image '{ImageReference.Redact(baseImage)}': {baseError}");
        if (source is not null && ImageReference.Redact(source) != source)
            throw new UsageException($"--source '{ImageReference.Redact(source)}' carries credentials (USER:TOKEN@), which would be published in the image's labels; give the URL without them");
        var outputSpecs = outputs.Select(OutputSpec.Parse).ToList();
        if (push && references.Count == 0) throw new UsageException("--push needs at least one -t REGISTRY/REPOSITORY:TAG");
        if (outputSpecs.Count == 0 && !push && !load && dockerfileDirectory is null)
            throw new UsageException("nothing to do: give --output oci:DIR or docker-archive:FILE, --load, --push -t REF, or --dockerfile DIR");
        var targetPlatform = PlatformSpec.Parse(platform);
        PlatformSpec.RuntimeIdentifier(targetPlatform); // refuses platforms the runtime is not published for
        if (runtimeDirectory is not null && !System.IO.Directory.Exists(runtimeDirectory)) throw new BentoException($"--runtime {runtimeDirectory}: no such directory");
        return new ContainerizeRequest
        {
            Outputs = outputSpecs, Load = load, Push = push, References = references, Tags = tagTexts, BaseImage = baseImage, Platform = targetPlatform,
            RuntimeDirectory = runtimeDirectory, DockerfileDirectory = dockerfileDirectory, Insecure = insecure, Source = source, Revision = revision,
        };
    }
}
