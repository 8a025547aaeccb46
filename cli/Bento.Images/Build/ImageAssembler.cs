using System.Globalization;
using Bento.Core;
using Bento.Core.Manifest;
using Bento.Core.Serving;
using Bento.Core.Store;
using Bento.Images.Layers;
using Bento.Images.Oci;

namespace Bento.Images.Build;

/// <summary>How to build a bento's image, beyond the bento and the base.</summary>
public sealed record ImageOptions
{
    public Platform Platform { get; init; } = ImageAssembler.DefaultPlatform;

    /// <summary>The base image's reference for <c>org.opencontainers.image.base.name</c> (a registry reference); null omits it.</summary>
    public string? BaseName { get; init; }

    /// <summary>null: SOURCE_DATE_EPOCH if set, else the bento's creation time.</summary>
    public DateTimeOffset? Created { get; init; }

    /// <summary><c>org.opencontainers.image.source</c> (a URL) and <c>.revision</c> (e.g. a git commit); null omits them.</summary>
    public string? Source { get; init; }

    public string? Revision { get; init; }

    /// <summary>What the runtime's LibTorch can use (<see cref="RuntimeLayers.Accelerator"/>), for the accelerator label.</summary>
    public string Accelerator { get; init; } = ImageContract.CpuAccelerator;

    /// <summary>A slim image: no weight layers; the runtime reads the model from <see cref="ImageContract.ModelDirectoryVariable"/>,
    /// where the model artifact of digest <see cref="ModelArtifactDigest"/> is mounted.</summary>
    public string? ModelArtifactDigest { get; init; }

    public bool SeparateWeights => ModelArtifactDigest is not null;
}

/// <summary>An assembled image and how it came about (layers with descriptions and cache hits, the parsed config).</summary>
public sealed record AssembledImage(Image Image, ImageConfigDocument Config, IReadOnlyList<BuiltLayer> Layers, int BaseLayerCount, byte[] BaseConfigBytes);

/// <summary>
/// Puts a bento's image together: the base image's layers, then ours, least often changed first —
/// LibTorch natives, .NET, the runtime app, one layer per weight file, and last the small per-bento layer
/// (<see cref="BentoFiles"/>) — and writes the config and manifest canonically. Nothing depends on the clock, the
/// working directory, the user or the machine: the same bento on the same base with the same runtime gives the same
/// manifest digest every time.
/// </summary>
public sealed class ImageAssembler(LayerBuilder layers, Action<string>? log = null)
{
    public static readonly Platform DefaultPlatform = new("linux", "amd64");

    /// <summary>The mtime of files in layers shared between bentos (runtime, weights): fixed, so sharing never breaks.</summary>
    public static readonly DateTimeOffset SharedLayerTime = DateTimeOffset.UnixEpoch;

    public const string DefaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

    public async Task<AssembledImage> AssembleAsync(StoredBento bento, Image baseImage, string runtimeDirectory, HashCache hashes, ImageOptions options, CancellationToken ct)
    {
        var manifest = bento.Manifest;
        var baseConfig = OciJson.Parse<ImageConfigDocument>(baseImage.ConfigBytes, "the base image's config");
        var basePlatform = new Platform(baseConfig.Os, baseConfig.Architecture, baseConfig.Variant);
        if (!Layout.OciLayoutSource.Matches(basePlatform, options.Platform))
            throw new BentoException($"the base image is for {basePlatform}, not {options.Platform}");
        if (baseConfig.RootFs.DiffIds.Count != baseImage.Layers.Count)
            throw new BentoException($"the base image's config lists {baseConfig.RootFs.DiffIds.Count} diff_ids for {baseImage.Layers.Count} layers");
        var created = ResolveCreated(manifest, options.Created);

        // Layers, least often changed first.
        var recipes = new List<LayerRecipe>();
        recipes.AddRange(await RuntimeLayers.RecipesAsync(RuntimeLayers.Classify(runtimeDirectory), hashes, ct));
        var files = BentoFiles.Plan(bento);
        if (!options.SeparateWeights) recipes.AddRange(files.Weights.Select(BentoFiles.WeightRecipe));
        recipes.Add(new LayerRecipe($"bento {manifest.Tag}", files.BentoEntries, Compress: true, created));
        // Layers are independent: compress LibTorch while the weights are hashed (bounded by the cores), keep the order.
        using var slots = new SemaphoreSlim(Math.Max(2, System.Environment.ProcessorCount));
        var built = (await Task.WhenAll(recipes.Select(async recipe =>
        {
            await slots.WaitAsync(ct);
            try { return await Task.Run(() => layers.BuildAsync(recipe, ct), ct); }
            finally { slots.Release(); }
        }))).ToList();

        var healthcheck = Healthcheck();
        var config = BuildConfig(manifest, baseConfig, baseImage, built, created, options, healthcheck);
        var configBytes = OciJson.Serialize(config);
        var configDescriptor = new Descriptor(MediaTypes.OciConfig, OciDigest.Of(configBytes), configBytes.Length);

        var allLayers = baseImage.Layers.Select(l => new Layer(Retype(l.Blob), l.DiffId)).Concat(built.Select(b => b.Layer)).ToList();
        var manifestDocument = new ManifestDocument
        {
            MediaType = MediaTypes.OciManifest,
            Config = DescriptorDocument.From(configDescriptor),
            Layers = allLayers.Select(l => DescriptorDocument.From(l.Blob.Descriptor with { Annotations = null, Platform = null })).ToList(),
            Annotations = OciJson.Sorted(Annotations(manifest, baseImage, created, options)),
        };
        var manifestBytes = OciJson.Serialize(manifestDocument);
        var manifestDescriptor = new Descriptor(MediaTypes.OciManifest, OciDigest.Of(manifestBytes), manifestBytes.Length);
        return new AssembledImage(new Image(manifestDescriptor, manifestBytes, configDescriptor, configBytes, allLayers), config, built, baseImage.Layers.Count, baseImage.ConfigBytes);
    }

    /// <summary>SOURCE_DATE_EPOCH (seconds since the epoch) if set, else the bento's creation time; whole seconds, UTC.</summary>
    public static DateTimeOffset ResolveCreated(BentoManifest manifest, DateTimeOffset? given = null)
    {
        if (given is { } g) return DateTimeOffset.FromUnixTimeSeconds(g.ToUnixTimeSeconds());
        return Bento.Core.Build.SourceDateEpoch.Read() ?? DateTimeOffset.FromUnixTimeSeconds(manifest.Created.ToUnixTimeSeconds());
    }

    public static string Rfc3339(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    /// <summary>The image's Env: the base's (in its order), the bento's envs, then where the runtime finds the bento and listens.</summary>
    public static List<string> Environment(BentoManifest manifest, IReadOnlyList<string>? baseEnv, bool separateWeights = false)
    {
        var env = new List<KeyValuePair<string, string>>();
        foreach (var item in baseEnv ?? [])
        {
            var eq = item.IndexOf('=');
            env.Add(eq < 0 ? new(item, "") : new(item[..eq], item[(eq + 1)..]));
        }
        void Set(string key, string value)
        {
            var i = env.FindIndex(e => e.Key == key);
            if (i >= 0) env[i] = new(key, value);
            else env.Add(new(key, value));
        }
        if (env.All(e => e.Key != "PATH")) Set("PATH", DefaultPath["PATH=".Length..]);
        foreach (var e in manifest.Envs) Set(e.Name, e.Value);
        Set(ImageContract.BentoPathVariable, ImageContract.BentoDirectory);
        if (separateWeights) Set(ImageContract.ModelDirectoryVariable, ImageContract.ModelMountModelDirectory);
        Set(SettingName.Host.Env, EngineDefaults.Host);
        Set(SettingName.Port.Env, manifest.Runtime.Port.ToString(CultureInfo.InvariantCulture));
        // enforce_eager lives in bento.yaml. Setting its variable here would make every container report it as a
        // deployment override (source "env") and, for an overridable bento, shadow the value the bento chose; a
        // deployment that wants another value sets the variable itself. A locked bento ignores it anyway.
        env.RemoveAll(e => e.Key == manifest.Runtime.EnforceEager.Env || e.Key == Bento.Core.Spec.EnforceEagerSpec.DefaultEnv);
        return env.Select(e => $"{e.Key}={e.Value}").ToList();
    }

    private ImageConfigDocument BuildConfig(BentoManifest manifest, ImageConfigDocument baseConfig, Image baseImage, IReadOnlyList<BuiltLayer> built,
        DateTimeOffset created, ImageOptions options, HealthcheckDocument healthcheck)
    {
        var baseContainer = baseConfig.Config ?? new ContainerConfigDocument();
        var port = $"{manifest.Runtime.Port.ToString(CultureInfo.InvariantCulture)}/tcp";
        var exposed = OciJson.Sorted(baseContainer.ExposedPorts);
        exposed[port] = EmptyObject.Instance;

        var labels = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var (k, v) in baseContainer.Labels ?? [])
            if (!k.StartsWith("org.opencontainers.image.", StringComparison.Ordinal)) labels[k] = v; // those describe the base, not us
        foreach (var (k, v) in manifest.Labels) labels[k] = v;
        foreach (var (k, v) in manifest.Docker.Labels) labels[k] = v;
        foreach (var (k, v) in Annotations(manifest, baseImage, created, options)) labels[k] = v;
        var eager = manifest.Runtime.EnforceEager;
        labels[ImageContract.Labels.EnforceEager] = eager.Value.ToWireName();
        labels[ImageContract.Labels.EnforceEagerOverridable] = eager.Overridable ? "true" : "false";
        labels[ImageContract.Labels.EnforceEagerEnv] = eager.Env;
        labels[ImageContract.Labels.Port] = manifest.Runtime.Port.ToString(CultureInfo.InvariantCulture);
        labels[ImageContract.Labels.Runtime] = ImageContract.Executable;
        labels[ImageContract.Labels.Accelerator] = options.Accelerator;
        if (options.ModelArtifactDigest is { } artifact)
        {
            // Only slim images say so: a full image's labels (and digest) stay as they were.
            labels[ImageContract.Labels.Weights] = ImageContract.WeightsSeparate;
            labels[ImageContract.Labels.ModelArtifact] = artifact;
        }

        var time = Rfc3339(created);
        var history = BaseHistory(baseConfig, baseImage.Layers.Count);
        history.AddRange(built.Select(b => new HistoryDocument { Created = time, CreatedBy = $"bento containerize: {b.Description}" }));
        history.Add(new HistoryDocument
        {
            Created = time,
            CreatedBy = $"bento containerize: USER {ImageContract.User}, WORKDIR {ImageContract.BentoDirectory}, EXPOSE {port}, ENTRYPOINT [\"{ImageContract.Executable}\"]" +
                        $", HEALTHCHECK {string.Join(' ', ImageContract.HealthcheckCommand)}",
            EmptyLayer = true,
        });

        return new ImageConfigDocument
        {
            Created = time,
            Architecture = baseConfig.Architecture,
            Os = baseConfig.Os,
            Variant = baseConfig.Variant,
            Config = new ContainerConfigDocument
            {
                User = ImageContract.User,
                ExposedPorts = exposed,
                Env = Environment(manifest, baseContainer.Env, options.SeparateWeights),
                Entrypoint = [ImageContract.Executable],
                Cmd = null,
                Volumes = baseContainer.Volumes is { Count: > 0 } ? OciJson.Sorted(baseContainer.Volumes) : null,
                WorkingDir = ImageContract.BentoDirectory,
                Labels = labels,
                StopSignal = ImageContract.StopSignal,
                Healthcheck = healthcheck,
            },
            RootFs = new RootFsDocument { Type = "layers", DiffIds = [.. baseConfig.RootFs.DiffIds, .. built.Select(b => b.Layer.DiffId)] },
            History = history,
        };
    }

    /// <summary>The base's history when it matches its layers (one non-empty entry per layer); otherwise one entry per layer.</summary>
    private static List<HistoryDocument> BaseHistory(ImageConfigDocument baseConfig, int layerCount)
    {
        var history = baseConfig.History ?? [];
        if (history.Count(h => h.EmptyLayer != true) == layerCount) return history.ToList();
        return Enumerable.Range(0, layerCount).Select(i => new HistoryDocument { CreatedBy = $"base image layer {i + 1}" }).ToList();
    }

    private static SortedDictionary<string, string> Annotations(BentoManifest manifest, Image baseImage, DateTimeOffset created, ImageOptions options)
    {
        var a = new SortedDictionary<string, string>(StringComparer.Ordinal)
        {
            [OciAnnotations.Created] = Rfc3339(created),
            [OciAnnotations.Title] = manifest.Name,
            [OciAnnotations.Version] = manifest.Version,
            [OciAnnotations.BaseDigest] = baseImage.Manifest.Digest,
            [ImageContract.Labels.Bento] = manifest.Tag,
        };
        if (!string.IsNullOrWhiteSpace(manifest.Description)) a[OciAnnotations.Description] = manifest.Description.Trim();
        if (!string.IsNullOrWhiteSpace(options.Source)) a[OciAnnotations.Source] = options.Source;
        if (!string.IsNullOrWhiteSpace(options.Revision)) a[OciAnnotations.Revision] = options.Revision;
        if (!string.IsNullOrWhiteSpace(options.BaseName)) a[OciAnnotations.BaseName] = options.BaseName;
        return a;
    }

    /// <summary>
    /// Docker's HEALTHCHECK: the runtime's own probe (<c>bento-runtime --healthcheck</c>), which resolves host and port
    /// as the server does (so <c>-e BENTO_PORT=...</c> is honoured) and GETs /health. It needs nothing from the base
    /// image, so distroless and chiseled bases get a healthcheck too. /health answers 200 while the model loads and
    /// once it serves, 503 when loading failed or the engine faulted.
    /// </summary>
    private static HealthcheckDocument Healthcheck()
    {
        static long Nanoseconds(TimeSpan t) => t.Ticks * 100;
        return new HealthcheckDocument
        {
            Test = ["CMD", .. ImageContract.HealthcheckCommand],
            Interval = Nanoseconds(ImageContract.HealthcheckInterval),
            Timeout = Nanoseconds(ImageContract.HealthcheckTimeout),
            StartPeriod = Nanoseconds(ImageContract.HealthcheckStartPeriod),
            Retries = ImageContract.HealthcheckRetries,
        };
    }

    /// <summary>Base layers keep their bytes and digest; Docker media types become their OCI equivalents (never mixed in one manifest).</summary>
    private static IBlob Retype(IBlob blob)
    {
        var type = blob.Descriptor.MediaType switch
        {
            MediaTypes.DockerLayerGzip => MediaTypes.OciLayerGzip,
            "application/vnd.docker.image.rootfs.diff.tar" => MediaTypes.OciLayer,
            MediaTypes.OciLayer or MediaTypes.OciLayerGzip or MediaTypes.OciLayerZstd => blob.Descriptor.MediaType,
            var other => throw new BentoException($"the base image has a layer of media type '{other}', which cannot be republished (foreign or non-distributable layers are not supported)"),
        };
        if (type == blob.Descriptor.MediaType) return blob;
        return blob is Registry.IBlobOrigin origin ? new RetypedOriginBlob(blob, type, origin) : new RetypedBlob(blob, type);
    }

    private class RetypedBlob(IBlob inner, string mediaType) : ISelfVerifyingBlob
    {
        public Descriptor Descriptor { get; } = inner.Descriptor with { MediaType = mediaType };

        public Task<Stream> OpenReadAsync(CancellationToken ct) => BlobCopy.OpenVerifiedAsync(inner, ct);
    }

    /// <summary>Keeps a pulled layer's origin, so a push to the same registry can mount it instead of uploading it.</summary>
    private sealed class RetypedOriginBlob(IBlob inner, string mediaType, Registry.IBlobOrigin origin) : RetypedBlob(inner, mediaType), Registry.IBlobOrigin
    {
        public string Registry => origin.Registry;
        public string Repository => origin.Repository;
    }
}
