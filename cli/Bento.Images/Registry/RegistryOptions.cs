namespace Bento.Images.Registry;

/// <summary>How blobs are uploaded: one request per blob, a sequence of PATCH chunks, or chosen by size and registry.</summary>
public enum UploadMode
{
    /// <summary>Monolithic up to <see cref="UploadOptions.MonolithicThreshold"/>, chunked above (registries known to
    /// reject chunks, e.g. Google Artifact Registry, always monolithic).</summary>
    Auto,
    /// <summary>POST, then one PUT carrying the whole blob.</summary>
    Monolithic,
    /// <summary>POST, PATCH chunks with Content-Range, then PUT with the digest.</summary>
    Chunked,
}

public sealed record UploadOptions
{
    public const long MiB = 1 << 20;

    public UploadMode Mode { get; init; } = UploadMode.Auto;

    /// <summary>Bytes per PATCH; null picks per registry: 4 MiB for ghcr.io (its per-request cap), else the whole blob
    /// in one streamed PATCH, as skopeo and go-containerregistry send it (distribution syncs its upload file to disk at
    /// the end of every PATCH, so many chunks cost many syncs); after a failure the upload still resumes from the
    /// offset the registry reports. Raised to the registry's <c>OCI-Chunk-Min-Length</c> when it asks for more.</summary>
    public long? ChunkSize { get; init; }

    /// <summary>In <see cref="UploadMode.Auto"/>, blobs up to this size go in one request.</summary>
    public long MonolithicThreshold { get; init; } = 32 * MiB;

    /// <summary>How often one blob's upload may start over in a new session when the registry lost the old one
    /// (distribution invalidates a session after a chunk that was cut off midway).</summary>
    public int MaxRestarts { get; init; } = 3;

    internal (bool Chunked, long ChunkSize) Plan(string registry, long blobSize, long? registryMinChunk)
    {
        var host = registry.Split(':')[0];
        var noChunks = host.EndsWith("-docker.pkg.dev", StringComparison.Ordinal) || host == "gcr.io" || host.EndsWith(".gcr.io", StringComparison.Ordinal);
        var chunk = ChunkSize ?? (host == "ghcr.io" ? 4 * MiB : Math.Max(blobSize, 1));
        if (registryMinChunk is > 0 && registryMinChunk > chunk) chunk = registryMinChunk.Value;
        chunk = Math.Max(chunk, 1);
        var chunked = Mode switch
        {
            UploadMode.Monolithic => false,
            UploadMode.Chunked => true,
            _ => !noChunks && blobSize > MonolithicThreshold,
        };
        return (chunked, chunk);
    }
}

public sealed record RetryOptions
{
    /// <summary>Attempts per request or chunk, the first included.</summary>
    public int MaxAttempts { get; init; } = 6;

    /// <summary>First backoff delay; doubles per attempt with jitter, up to <see cref="MaxDelay"/>.</summary>
    public TimeSpan BaseDelay { get; init; } = TimeSpan.FromMilliseconds(500);

    public TimeSpan MaxDelay { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>A registry's <c>Retry-After</c> is honoured up to this long.</summary>
    public TimeSpan MaxRetryAfter { get; init; } = TimeSpan.FromSeconds(60);
}

/// <summary>Where credentials come from; null fields mean the usual places (see <see cref="Auth.CredentialResolver"/>).</summary>
public sealed record CredentialOptions
{
    /// <summary>docker's config.json; default <c>$DOCKER_CONFIG/config.json</c> or <c>~/.docker/config.json</c>.</summary>
    public string? DockerConfigPath { get; init; }

    /// <summary>The file <c>bento login</c> writes; default <c>$BENTO_HOME/auth.json</c>.</summary>
    public string? BentoAuthPath { get; init; }

    /// <summary>Directories searched for <c>docker-credential-NAME</c> helpers (PATH syntax); default <c>$PATH</c>.</summary>
    public string? HelperSearchPath { get; init; }

    /// <summary>How long a credential helper may take.</summary>
    public TimeSpan HelperTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>No lookup at all (anonymous only).</summary>
    public bool Anonymous { get; init; }
}

/// <summary>Everything the registry client can be told; the defaults suit a push of multi-gigabyte weight layers.</summary>
public sealed record RegistryOptions
{
    /// <summary>Registries (host[:port], as in references) allowed over plain http or with an untrusted TLS certificate.
    /// Nothing else is: not even localhost.</summary>
    public IReadOnlyCollection<string> Insecure { get; init; } = [];

    public UploadOptions Upload { get; init; } = new();

    public RetryOptions Retry { get; init; } = new();

    public CredentialOptions Credentials { get; init; } = new();

    /// <summary>Blobs uploaded or downloaded at the same time.</summary>
    public int MaxParallelBlobs { get; init; } = 4;

    /// <summary>A request is abandoned (and retried) after this long without progress: no response yet and no byte
    /// sent or received. It bounds each request, never a whole multi-gigabyte transfer.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(60);

    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(20);

    /// <summary>Where pulled blobs are cached by digest (<c>DIR/blobs/sha256/HEX</c>); default <c>$BENTO_HOME/images</c>.</summary>
    public string? CacheDirectory { get; init; }

    public string UserAgent { get; init; } = "bento (BentoBuilder)";

    internal bool IsInsecure(string registry) =>
        Insecure.Any(entry => string.Equals(ImageReference.NormalizeRegistry(entry) ?? entry, registry, StringComparison.OrdinalIgnoreCase));
}
