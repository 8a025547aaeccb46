namespace Bento.Core.Serving;

/// <summary>
/// What a bento's image promises to whoever runs it: where things are, who runs it, which paths answer, which labels
/// describe it. The image assembler writes it, the runtime serves it, and <c>bento deploy</c> generates Kubernetes and
/// compose objects from it, so a probe path or the user id cannot drift between them. Settings (port, host, env
/// names and defaults) are in <see cref="SettingName"/> and <see cref="EngineDefaults"/>.
/// </summary>
public static class ImageContract
{
    /// <summary>A fixed non-root user and group, so a read-only, non-root pod security context can name them.</summary>
    public const long UserId = 10001, GroupId = 10001;
    public static readonly string User = $"{UserId}:{GroupId}";

    /// <summary>Where the bento (bento.yaml, model/, src/) lies in the image; the working directory.</summary>
    public const string BentoDirectory = "/bento";

    /// <summary>The variable telling the runtime where the bento is.</summary>
    public const string BentoPathVariable = "BENTO_PATH";

    /// <summary>
    /// The variable naming a directory that holds the model's files (config, tokenizer, weights) by their path in the
    /// bento's <c>model/</c> folder. When set, the runtime loads the model from there instead of the bento, after
    /// checking every file against the sizes and sha256 in bento.yaml (a slim image has no weights of its own).
    /// </summary>
    public const string ModelDirectoryVariable = "BENTO_MODEL_DIR";

    /// <summary>Where <c>bento deploy</c> mounts a slim image's model artifact (an image volume); the artifact holds the
    /// bento's files by their bento paths, so the model is in <see cref="ModelMountModelDirectory"/>.</summary>
    public const string ModelMountDirectory = "/bento-model";
    public const string ModelMountModelDirectory = ModelMountDirectory + "/model";

    /// <summary>The runtime's cache of weight hashes (by path, size, mtime, inode), so a restart re-hashes nothing.
    /// In <see cref="TempDirectory"/>, which survives container restarts within a pod.</summary>
    public const string ModelHashCacheFile = "bento-model-hashes.json";

    /// <summary>The published runtime's directory (without the leading '/', as layer entries name it) and its executable.</summary>
    public const string RuntimeDirectory = "opt/bento-runtime";
    public const string Executable = "/" + RuntimeDirectory + "/bento-runtime";

    /// <summary>The runtime's own probe: resolves host and port as the server does and GETs <see cref="HealthPath"/>.</summary>
    public const string HealthcheckFlag = "--healthcheck";
    public static readonly IReadOnlyList<string> HealthcheckCommand = [Executable, HealthcheckFlag];

    /// <summary>200 while the model loads and once it serves; 503 when loading failed or the engine faulted (liveness).</summary>
    public const string HealthPath = "/health";

    /// <summary>200 once the model is loaded and requests are served; 503 before and while draining (startup, readiness).</summary>
    public const string ReadyPath = "/ready";

    /// <summary>Prometheus text format, vLLM's metric names.</summary>
    public const string MetricsPath = "/metrics";

    /// <summary>The one directory the runtime writes to; a read-only root filesystem needs it mounted writable.</summary>
    public const string TempDirectory = "/tmp";

    public const string StopSignal = "SIGTERM";

    /// <summary>Docker HEALTHCHECK timings, reused by compose files.</summary>
    public static readonly TimeSpan HealthcheckInterval = TimeSpan.FromSeconds(30), HealthcheckTimeout = TimeSpan.FromSeconds(5),
        HealthcheckStartPeriod = TimeSpan.FromSeconds(60);
    public const int HealthcheckRetries = 3;

    public const string LabelPrefix = "ai.bentobuilder.";

    /// <summary>Labels the image carries about its runtime, read back by <c>bento deploy</c> from an image or a bento.</summary>
    public static class Labels
    {
        public const string Bento = LabelPrefix + "bento";
        public const string EnforceEager = LabelPrefix + "enforce_eager";
        public const string EnforceEagerOverridable = LabelPrefix + "enforce_eager.overridable";
        public const string EnforceEagerEnv = LabelPrefix + "enforce_eager.env";
        public const string Port = LabelPrefix + "port";
        public const string Runtime = LabelPrefix + "runtime";

        /// <summary>The device the runtime's LibTorch can use: <see cref="CpuAccelerator"/> or <see cref="CudaAccelerator"/>.</summary>
        public const string Accelerator = LabelPrefix + "accelerator";

        /// <summary><see cref="WeightsSeparate"/> on a slim image, whose weights come from the model artifact named by
        /// <see cref="ModelArtifact"/> (its digest, in the image's repository); absent on an image with its weights.</summary>
        public const string Weights = LabelPrefix + "weights";
        public const string ModelArtifact = LabelPrefix + "model.artifact";
    }

    public const string WeightsSeparate = "separate";

    public const string CpuAccelerator = "cpu", CudaAccelerator = "cuda";
}
