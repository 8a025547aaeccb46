using Bento.Core.Manifest;
using System.Globalization;
using Bento.Core;
using Bento.Core.Serving;
using Bento.Core.Store;
using Bento.Images.Build;
using Bento.Images.Oci;
using Bento.Images.Registry;

namespace Bento.Deploy;

/// <summary>
/// A deployment of one bento, resolved from the bento, the store's pushed images, the image contract and the operator's
/// options: what the Kubernetes objects and the compose file are both generated from, so they cannot differ.
/// </summary>
public sealed record DeploymentSpec
{
    public required string Name { get; init; }
    public required string Namespace { get; init; }
    public required string Image { get; init; }
    /// <summary>A slim image's model artifact (pinned by digest), mounted as an image volume at
    /// <see cref="ImageContract.ModelMountDirectory"/>; null for an image that carries its weights.</summary>
    public string? ModelArtifact { get; init; }
    public required string BentoTag { get; init; }
    public required string BentoName { get; init; }
    public required string BentoVersion { get; init; }
    public required int Port { get; init; }
    public required int? Replicas { get; init; }
    public required (int Min, int Max)? Autoscale { get; init; }
    public required int AutoscaleWaiting { get; init; }
    public required string Cpu { get; init; }
    public required long Memory { get; init; }
    public required int Gpus { get; init; }
    public required IReadOnlyList<EnvOverride> Env { get; init; }
    public required IReadOnlyList<string> PullSecrets { get; init; }
    public required bool HostNetwork { get; init; }
    public required ProbeKind Probes { get; init; }
    /// <summary>How long the startup probe waits for the model to load before the container is restarted.</summary>
    public required int StartupBudgetSeconds { get; init; }
    /// <summary>The runtime's drain time plus a margin to exit, so Kubernetes' SIGKILL never cuts a drain short.</summary>
    public required int TerminationGraceSeconds { get; init; }

    public const string FieldManager = "bento";

    /// <summary>Seconds per GiB of weights the startup budget allows (a cold disk at ~50 MiB/s, plus conversion).</summary>
    public const int StartupSecondsPerGiB = 20;
    public const int StartupBaseSeconds = 60;
    public const int StartupPeriodSeconds = 10;
    public const string DefaultCpu = "1";

    public string MemoryQuantity => QuantityOf(Memory);

    /// <summary>A byte count as a Kubernetes quantity in Mi (whole mebibytes; memory sizes here are multiples of them).</summary>
    public static string QuantityOf(long bytes) => $"{(bytes + (1 << 20) - 1) >> 20}Mi";

    /// <summary>The environment variables the deployment sets; the image's own (BENTO_PATH, BENTO_PORT, ...) stay as built.</summary>
    public IEnumerable<KeyValuePair<string, string>> Environment => Env.Select(e => new KeyValuePair<string, string>(e.Name, e.Value));
}

/// <summary>Turns a bento and <see cref="DeployRequest"/> into a <see cref="DeploymentSpec"/>, refusing what cannot run.</summary>
public sealed class DeploymentResolver(BentoStore store, Func<ImageReference, CancellationToken, Task<string?>>? acceleratorOf = null)
{
    public async Task<DeploymentSpec> ResolveAsync(StoredBento bento, DeployRequest request, CancellationToken ct)
    {
        var manifest = bento.Manifest;
        EnvOverride.CheckAgainst(request.Env, manifest);
        var name = request.Name ?? KubernetesNames.FromBentoName(manifest.Name);
        KubernetesNames.RequireObjectName(name, request.Name is null ? $"the name derived from bento {manifest.Name}" : "--name");

        var (image, accelerator, artifact) = ResolveImage(bento, request);
        if (request.ModelArtifact is { } given)
        {
            if (!ImageReference.TryParse(given, out var parsed, out var error))
                throw new UsageException($"--model-artifact '{ImageReference.Redact(given)}' is not a valid reference: {error}");
            if (parsed.Digest is null)
                throw new UsageException($"--model-artifact '{given}' is not pinned by digest; use REGISTRY/REPOSITORY@sha256:... (the image's {ImageContract.Labels.ModelArtifact} label names it)");
            artifact = given;
        }
        if (request.Gpus > 0)
        {
            accelerator ??= acceleratorOf is null ? null : await acceleratorOf(ImageReference.Parse(image), ct);
            if (accelerator is null)
                throw new BentoException($"--gpus {request.Gpus}: cannot tell whether {image} has a CUDA runtime (its {Bento.Core.Serving.ImageContract.Labels.Accelerator} label could not be read); push it with bento containerize so the store records it, or check the registry is reachable");
            if (accelerator != ImageContract.CudaAccelerator)
                throw new BentoException($"--gpus {request.Gpus}: {image} has a CPU-only runtime (label {ImageContract.Labels.Accelerator}={accelerator}); containerize with a CUDA runtime (TorchSharp-cuda-linux) or deploy without --gpus");
        }

        var settings = FitSettings(request.Env, manifest);
        var memory = request.Memory ?? PodMemory.Required(manifest, bento.Directory, settings, request.Gpus > 0);
        var weights = manifest.Model.Files.Sum(f => f.Size);
        var shutdown = Override(request.Env, SettingName.ShutdownTimeout, manifest) ?? EngineDefaults.ShutdownTimeout;
        return new DeploymentSpec
        {
            Name = name,
            Namespace = request.Namespace,
            Image = image,
            ModelArtifact = artifact,
            BentoTag = manifest.Tag,
            BentoName = manifest.Name,
            BentoVersion = manifest.Version,
            // A BENTO_PORT override moves the listener, so the container port, probes and Service follow it.
            Port = Override(request.Env, SettingName.Port, manifest) ?? manifest.Runtime.Port,
            Replicas = request.Autoscale is null ? request.Replicas ?? 1 : null,
            Autoscale = request.Autoscale,
            AutoscaleWaiting = request.AutoscaleWaiting,
            Cpu = request.Cpu ?? DeploymentSpec.DefaultCpu,
            Memory = memory,
            Gpus = request.Gpus,
            Env = request.Env,
            PullSecrets = request.PullSecrets,
            HostNetwork = request.HostNetwork,
            Probes = request.Probes,
            StartupBudgetSeconds = DeploymentSpec.StartupBaseSeconds + (int)Math.Ceiling(weights / (double)(1L << 30) * DeploymentSpec.StartupSecondsPerGiB),
            TerminationGraceSeconds = shutdown + 5,
        };
    }

    private (string Image, string? Accelerator, string? ModelArtifact) ResolveImage(StoredBento bento, DeployRequest request)
    {
        var pushed = new PublishedImages(store).Read(bento.Manifest);
        if (request.Image is null)
        {
            var latest = pushed.Count > 0 ? pushed[^1] : null;
            if (latest is null)
                throw new BentoException($"{bento.Tag} has no pushed image; run bento containerize {bento.Tag} --push -t REGISTRY/REPOSITORY:TAG first, or pass --image REF");
            return (latest.Reference, latest.Accelerator, latest.ModelArtifact);
        }
        if (!ImageReference.TryParse(request.Image, out var reference, out var error))
            throw new UsageException($"--image '{ImageReference.Redact(request.Image)}' is not a valid image reference: {error}");
        if (request.RequireDigest && reference.Digest is null)
            throw new UsageException($"--image '{request.Image}' is not pinned by digest and --require-digest was given; use REGISTRY/REPOSITORY@sha256:..., as bento containerize --push prints");
        var known = pushed.LastOrDefault(p => reference.Digest is not null && p.Digest == reference.Digest);
        return (request.Image, known?.Accelerator, known?.ModelArtifact);
    }

    /// <summary>Settings the operator overrides that change how much memory the runtime plans for.</summary>
    private static FitOptions FitSettings(IReadOnlyList<EnvOverride> env, BentoManifest manifest) => new()
    {
        MaxModelLen = Override(env, SettingName.MaxModelLen, manifest),
        MaxNumSeqs = Override(env, SettingName.MaxNumSeqs, manifest),
        Dtype = OverrideText(env, SettingName.Dtype, manifest),
        KvCacheMemory = Override(env, SettingName.KvCacheMemory, manifest),
    };

    /// <summary>The value an <c>--env</c> override gives <paramref name="setting"/> (checked already), or null.</summary>
    private static T? Override<T>(IReadOnlyList<EnvOverride> env, SettingName<T> setting, BentoManifest manifest) where T : struct =>
        env.LastOrDefault(e => e.Name == setting.Env && !string.IsNullOrWhiteSpace(e.Value)) is { } o ? (T)EnvOverride.Typed(o, setting, manifest) : null;

    private static string? OverrideText(IReadOnlyList<EnvOverride> env, SettingName<string> setting, BentoManifest manifest) =>
        env.LastOrDefault(e => e.Name == setting.Env && !string.IsNullOrWhiteSpace(e.Value)) is { } o ? (string)EnvOverride.Typed(o, setting, manifest) : null;

    /// <summary>Reads an image's accelerator label from its registry (manifest and config only, no layer).</summary>
    public static Func<ImageReference, CancellationToken, Task<string?>> RegistryLabels(bool insecure) => async (reference, ct) =>
    {
        using var client = new RegistryClient(new RegistryOptions { Insecure = insecure ? [reference.Registry] : [] });
        try
        {
            var (_, config) = await new RegistryImageSource(client, reference).GetConfigAsync(ImageAssembler.DefaultPlatform, ct);
            var document = OciJson.Parse<ImageConfigDocument>(config, $"{reference}'s config");
            return document.Config?.Labels?.GetValueOrDefault(ImageContract.Labels.Accelerator);
        }
        catch (BentoException)
        {
            return null;
        }
    };
}
