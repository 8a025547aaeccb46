using System.Buffers;
using System.Collections.Concurrent;
using System.Net;
using Bento.Images.Oci;
using Bento.Images.Registry.Auth;

namespace Bento.Images.Registry;

/// <summary>A manifest or index as the registry served it, digest verified.</summary>
public sealed record ManifestResponse(string MediaType, byte[] Bytes, string Digest);

/// <summary>What a push did: the manifest digest, the references now pointing at it, and the traffic it caused.</summary>
public sealed record PushResult(string Digest, IReadOnlyList<ImageReference> References, TransferSnapshot Transfer);

/// <summary>
/// The OCI distribution API over HTTP: blob existence checks, cross-repository mounts, monolithic and chunked uploads
/// with resume, manifests, verified downloads, and whole-image pushes (<see cref="PushAsync"/>). One instance serves any
/// number of registries (a connection, challenge and token cache per registry) and is safe to share between threads.
/// </summary>
public sealed class RegistryClient : IDisposable
{
    /// <summary>Manifests larger than this are refused (containerd and the distribution spec use 4 MiB).</summary>
    public const int MaxManifestBytes = 4 << 20;

    public static readonly string[] ManifestAccept =
        [MediaTypes.OciManifest, MediaTypes.OciIndex, MediaTypes.DockerManifest, MediaTypes.DockerManifestList];

    private readonly ConcurrentDictionary<string, Lazy<RegistryConnection>> _connections = new();
    private readonly CredentialResolver _resolver;
    private readonly Retrier _retrier;

    public RegistryClient(RegistryOptions? options = null)
    {
        Options = options ?? new RegistryOptions();
        _resolver = new CredentialResolver(Options.Credentials);
        _retrier = new Retrier(Options.Retry, Stats);
    }

    public RegistryOptions Options { get; }

    /// <summary>Requests and bytes of everything this client did.</summary>
    public TransferStats Stats { get; } = new();

    internal RegistryConnection Connection(string registry) =>
        _connections.GetOrAdd(registry, r => new Lazy<RegistryConnection>(() => new RegistryConnection(r, Options, Stats, _retrier, _resolver))).Value;

    internal static string PullScope(string repository) => $"repository:{repository}:pull";
    internal static string PushScope(string repository) => $"repository:{repository}:pull,push";

    // ---------------------------------------------------------------------------------------------------- login

    /// <summary>
    /// Checks that <paramref name="username"/>/<paramref name="secret"/> are accepted by <paramref name="registry"/>
    /// (a GET /v2/ with Basic, or a token from its realm); throws <see cref="RegistryAuthException"/> when not.
    /// </summary>
    public async Task VerifyCredentialsAsync(string registry, string username, string secret, CancellationToken ct)
    {
        var lookup = new CredentialLookup(new RegistryCredential(username, secret, "the command line (bento login)"), []);
        using var connection = new RegistryConnection(registry, Options, Stats, _retrier, _resolver, lookup);
        await connection.VerifyCredentialsAsync(ct);
    }

    // ---------------------------------------------------------------------------------------------------- blobs

    public Task<bool> BlobExistsAsync(ImageReference repository, Descriptor blob, CancellationToken ct) =>
        BlobExistsAsync(Connection(repository.Registry), repository.Repository, blob, [PullScope(repository.Repository)], null, ct);

    private async Task<bool> BlobExistsAsync(RegistryConnection c, string repository, Descriptor blob, IReadOnlyList<string> scopes,
        Action<string, int, TimeSpan, string>? onRetry, CancellationToken ct)
    {
        var root = await c.BaseAsync(onRetry, ct);
        var uri = new Uri(root, $"v2/{repository}/blobs/{blob.Digest}");
        return await c.Retrier.ExecuteAsync($"checking blob {Digests.Short(blob.Digest)} in {c.Registry}/{repository}", async (_, token) =>
        {
            using var wd = c.NewWatchdog(token);
            using var response = await c.SendAsync(HttpMethod.Head, uri, scopes, wd);
            if (response.StatusCode == HttpStatusCode.OK) return true;
            if (response.StatusCode == HttpStatusCode.NotFound) return false;
            throw await UnexpectedAsync(c, response, $"HEAD {RegistryConnection.Show(uri)}", token);
        }, onRetry, ct);
    }

    /// <summary>
    /// Asks the registry to link <paramref name="blob"/> from <paramref name="fromRepository"/>: true when it did (201);
    /// otherwise the upload session it opened instead (202), if any.
    /// </summary>
    private async Task<(bool Mounted, Uri? Session)> MountAsync(RegistryConnection c, string repository, Descriptor blob, string fromRepository,
        IReadOnlyList<string> scopes, Action<string, int, TimeSpan, string>? onRetry, CancellationToken ct)
    {
        var root = await c.BaseAsync(onRetry, ct);
        var uri = new Uri(root, $"v2/{repository}/blobs/uploads/?mount={Uri.EscapeDataString(blob.Digest)}&from={Uri.EscapeDataString(fromRepository)}");
        try
        {
            return await c.Retrier.ExecuteAsync($"mounting blob {Digests.Short(blob.Digest)} from {fromRepository}", async (_, token) =>
            {
                using var wd = c.NewWatchdog(token);
                using var response = await c.SendAsync(HttpMethod.Post, uri, scopes, wd, () => new ByteArrayContent([]));
                if (response.StatusCode == HttpStatusCode.Created) return (true, (Uri?)null);
                if (response.StatusCode == HttpStatusCode.Accepted && response.Headers.Location is { } location)
                    return (false, new Uri(uri, location));
                return (false, null); // not mountable here; upload instead
            }, onRetry, ct);
        }
        catch (RegistryException e) when (e is not DigestMismatchException && !ct.IsCancellationRequested)
        {
            // A mount is only a shortcut: no pull access to the source repository, or a registry that refuses or keeps
            // failing cross-repository mounts (5xx after the retries), means the blob is uploaded instead.
            return (false, null);
        }
    }

    /// <summary>Uploads one blob (it must not be assumed present); the strategy follows <see cref="RegistryOptions.Upload"/>.</summary>
    public Task UploadBlobAsync(ImageReference repository, IBlob blob, IPushObserver? observer, CancellationToken ct) =>
        UploadAsync(Connection(repository.Registry), repository.Repository, blob, [PushScope(repository.Repository)], observer ?? IPushObserver.None, null, ct);

    private async Task UploadAsync(RegistryConnection c, string repository, IBlob blob, IReadOnlyList<string> scopes,
        IPushObserver observer, Uri? session, CancellationToken ct)
    {
        var d = blob.Descriptor;
        await using var cursor = new BlobCursor(blob);
        for (var restart = 0; ; restart++)
        {
            try
            {
                long? minChunk = null;
                if (session is null) (session, minChunk) = await StartUploadAsync(c, repository, scopes, observer, ct);
                var (chunked, chunkSize) = Options.Upload.Plan(c.Registry, d.Size, minChunk);
                var location = session;
                session = null;
                if (chunked) location = await SendChunksAsync(c, repository, d, cursor, location, chunkSize, scopes, observer, ct);
                await CompleteUploadAsync(c, repository, d, cursor, location, withBody: !chunked, scopes, observer, ct);
                return;
            }
            catch (UploadSessionLostException lost)
            {
                if (restart >= Options.Upload.MaxRestarts)
                    throw new RegistryException($"uploading blob {d.Digest} to {c.Registry}/{repository} failed: {lost.Message} (gave up after {restart + 1} upload sessions)");
                c.Stats.Restart();
                observer.Retrying($"uploading blob {Digests.Short(d.Digest)}", restart + 1, TimeSpan.Zero, lost.Message + "; starting the blob again");
                observer.BlobProgress(d, 0);
            }
        }
    }

    private async Task<(Uri Location, long? MinChunk)> StartUploadAsync(RegistryConnection c, string repository, IReadOnlyList<string> scopes,
        IPushObserver observer, CancellationToken ct)
    {
        var root = await c.BaseAsync(observer.Retrying, ct);
        var uri = new Uri(root, $"v2/{repository}/blobs/uploads/");
        return await c.Retrier.ExecuteAsync($"starting an upload to {c.Registry}/{repository}", async (_, token) =>
        {
            using var wd = c.NewWatchdog(token);
            using var response = await c.SendAsync(HttpMethod.Post, uri, scopes, wd, () => new ByteArrayContent([]));
            if (response.StatusCode != HttpStatusCode.Accepted)
                throw await UnexpectedAsync(c, response, $"POST {RegistryConnection.Show(uri)}", token);
            var location = response.Headers.Location
                ?? throw new RegistryException($"registry {c.Registry} opened an upload without telling where to send it (no Location header)");
            long? min = response.Headers.TryGetValues("OCI-Chunk-Min-Length", out var values) && long.TryParse(values.First(), out var m) ? m : null;
            return (new Uri(uri, location), min);
        }, observer.Retrying, ct);
    }

    /// <summary>
    /// PATCHes the blob in chunks, following each new Location. After a failure, asks the registry how much it has
    /// (GET on the upload URL: <c>Range: 0-N</c>) and continues from there; a session the registry lost ends the attempt
    /// with <see cref="UploadSessionLostException"/> and the caller starts over.
    /// </summary>
    private async Task<Uri> SendChunksAsync(RegistryConnection c, string repository, Descriptor d, BlobCursor cursor, Uri location,
        long chunkSize, IReadOnlyList<string> scopes, IPushObserver observer, CancellationToken ct)
    {
        long offset = 0;
        while (offset < d.Size)
        {
            await c.Retrier.ExecuteAsync($"uploading blob {Digests.Short(d.Digest)} to {c.Registry}/{repository}", async (attempt, token) =>
            {
                if (attempt > 0)
                {
                    (location, offset) = await UploadStatusAsync(c, location, scopes, token);
                    c.Stats.Resume();
                    observer.BlobProgress(d, offset);
                    if (offset >= d.Size) return;
                }
                var start = offset;
                var length = Math.Min(chunkSize, d.Size - start);
                using var wd = c.NewWatchdog(token);
                using var response = await c.SendAsync(HttpMethod.Patch, location, scopes, wd,
                    () =>
                    {
                        var content = new UploadContent(t => cursor.AtAsync(start, t), length, c.Stats, wd, sent => observer.BlobProgress(d, start + sent),
                            endsBlob: start + length == d.Size);
                        content.Headers.TryAddWithoutValidation("Content-Range", $"{start}-{start + length - 1}");
                        return content;
                    });
                switch (response.StatusCode)
                {
                    case HttpStatusCode.Accepted:
                        c.Stats.Chunk();
                        if (response.Headers.Location is { } next) location = new Uri(location, next);
                        // Trust what the registry says it holds: a registry that kept less is resumed from there.
                        offset = ReceivedBytes(response) is { } received && received <= start + length && received > start ? received : start + length;
                        return;
                    case HttpStatusCode.RequestedRangeNotSatisfiable:
                        throw new TransientException($"registry {c.Registry} refused the chunk at offset {start} (416); resuming from what it has", status: response.StatusCode);
                    case HttpStatusCode.NotFound:
                        throw new UploadSessionLostException($"registry {c.Registry} no longer knows the upload session ({(await RegistryErrors.DescribeAsync(response, token)).Text})");
                    default:
                        throw await UnexpectedAsync(c, response, $"PATCH {RegistryConnection.Show(location)}", token);
                }
            }, observer.Retrying, ct);
        }
        return location;
    }

    /// <summary>GET on the upload URL: the (possibly new) Location and how many bytes the registry holds.</summary>
    private static async Task<(Uri Location, long Received)> UploadStatusAsync(RegistryConnection c, Uri location, IReadOnlyList<string> scopes, CancellationToken ct)
    {
        using var wd = c.NewWatchdog(ct);
        using var response = await c.SendAsync(HttpMethod.Get, location, scopes, wd);
        if (response.StatusCode == HttpStatusCode.NotFound)
            throw new UploadSessionLostException($"registry {c.Registry} no longer knows the upload session ({(await RegistryErrors.DescribeAsync(response, ct)).Text})");
        if (response.StatusCode is not (HttpStatusCode.NoContent or HttpStatusCode.OK or HttpStatusCode.Accepted))
            throw await UnexpectedAsync(c, response, $"GET {RegistryConnection.Show(location)}", ct);
        var next = response.Headers.Location is { } l ? new Uri(location, l) : location;
        return (next, ReceivedBytes(response) ?? 0);
    }

    /// <summary>
    /// Bytes held according to a <c>Range: 0-N</c> header (N is the last byte's offset). distribution answers
    /// <c>0-0</c> for an empty upload as well; it is read as empty (a 1-byte chunk is never sent).
    /// </summary>
    private static long? ReceivedBytes(HttpResponseMessage response)
    {
        if (!response.Headers.TryGetValues("Range", out var values)) return null;
        var text = values.First().Trim();
        if (text.StartsWith("bytes=", StringComparison.OrdinalIgnoreCase)) text = text[6..];
        var dash = text.IndexOf('-');
        if (dash <= 0 || !long.TryParse(text.AsSpan(dash + 1), out var last)) return null;
        return last <= 0 ? 0 : last + 1;
    }

    /// <summary>
    /// The closing PUT with <c>?digest=</c> (carrying the whole blob for a monolithic upload). If the registry answers
    /// that the session is gone, the blob may have been committed by an attempt whose answer was lost: HEAD decides.
    /// </summary>
    private async Task CompleteUploadAsync(RegistryConnection c, string repository, Descriptor d, BlobCursor cursor, Uri location, bool withBody,
        IReadOnlyList<string> scopes, IPushObserver observer, CancellationToken ct)
    {
        var uri = RegistryConnection.AppendQuery(location, "digest=" + Uri.EscapeDataString(d.Digest));
        await c.Retrier.ExecuteAsync($"uploading blob {Digests.Short(d.Digest)} to {c.Registry}/{repository}", async (attempt, token) =>
        {
            using var wd = c.NewWatchdog(token);
            HttpResponseMessage response;
            try
            {
                response = await c.SendAsync(HttpMethod.Put, uri, scopes, wd, () => withBody
                    ? new UploadContent(t => cursor.AtAsync(0, t), d.Size, c.Stats, wd, sent => observer.BlobProgress(d, sent), endsBlob: true)
                    : new ByteArrayContent([]) { Headers = { ContentType = new("application/octet-stream") } });
            }
            catch (Exception e) when (withBody && Retrier.IsTransient(e))
            {
                // A monolithic body cut off midway leaves distribution's session unusable; a fresh one is cheaper than a
                // doomed retry against it.
                throw attempt + 1 < Options.Retry.MaxAttempts && e is not TransientException
                    ? new UploadSessionLostException($"the upload was interrupted ({Retrier.Describe(e)})")
                    : e;
            }
            using (response)
            {
                // Only 201 means committed (as go-containerregistry insists too): a proxy's stray 200 must not pass.
                if (response.StatusCode == HttpStatusCode.Created)
                {
                    if (response.Headers.TryGetValues("Docker-Content-Digest", out var digests) && digests.First() is var got && got != d.Digest
                        && Digests.Algorithm(got) == Digests.Algorithm(d.Digest))
                        throw new DigestMismatchException($"registry {c.Registry} stored blob {d.Digest} as {got}: the blob's bytes do not match its digest");
                    return;
                }
                if (response.StatusCode == HttpStatusCode.NotFound)
                {
                    if (await BlobExistsAsync(c, repository, d, scopes, null, token)) return;
                    throw new UploadSessionLostException($"registry {c.Registry} no longer knows the upload session ({(await RegistryErrors.DescribeAsync(response, token)).Text})");
                }
                var (text, code) = await RegistryErrors.DescribeAsync(response, token);
                if (code is "DIGEST_INVALID" or "SIZE_INVALID")
                    throw new DigestMismatchException($"registry {c.Registry} rejected blob {d.Digest}: {text} (the blob's bytes do not match its descriptor)");
                throw new RegistryException($"uploading blob {d.Digest} to {c.Registry}/{repository} failed: {text}", response.StatusCode, code);
            }
        }, observer.Retrying, ct);
        observer.BlobProgress(d, d.Size);
    }

    // ---------------------------------------------------------------------------------------------------- manifests

    /// <summary>PUT the manifest bytes under the reference's tag (or digest); returns the digest the registry reports.</summary>
    public async Task<string> PutManifestAsync(ImageReference reference, string mediaType, byte[] manifest, IPushObserver? observer, CancellationToken ct)
    {
        observer ??= IPushObserver.None;
        var c = Connection(reference.Registry);
        var root = await c.BaseAsync(observer.Retrying, ct);
        var expected = Digests.Sha256(manifest);
        if (reference.Digest is { } pinned && pinned != expected)
            throw new RegistryException($"cannot push to {reference}: the image's manifest digest is {expected}");
        var uri = new Uri(root, $"v2/{reference.Repository}/manifests/{reference.Tag ?? reference.Digest}");
        return await c.Retrier.ExecuteAsync($"pushing the manifest to {reference}", async (_, token) =>
        {
            using var wd = c.NewWatchdog(token);
            using var response = await c.SendAsync(HttpMethod.Put, uri, [PushScope(reference.Repository)], wd,
                () => UploadContent.FromBytes(manifest, mediaType, c.Stats, wd));
            if (response.StatusCode is HttpStatusCode.Created or HttpStatusCode.OK or HttpStatusCode.Accepted or HttpStatusCode.NoContent)
            {
                var reported = response.Headers.TryGetValues("Docker-Content-Digest", out var values) ? values.First() : expected;
                if (reported != expected && reported.StartsWith("sha256:", StringComparison.Ordinal))
                    throw new DigestMismatchException($"registry {c.Registry} stored the manifest for {reference} as {reported}, not {expected}");
                return expected;
            }
            var (text, code) = await RegistryErrors.DescribeAsync(response, token);
            if (code == "MANIFEST_BLOB_UNKNOWN")
                throw new RegistryException($"registry {c.Registry} refused the manifest for {reference}: it references a blob the repository does not have ({text})", response.StatusCode, code);
            throw new RegistryException($"pushing the manifest to {reference} failed: {text}", response.StatusCode, code);
        }, observer.Retrying, ct);
    }

    /// <summary>
    /// GET the manifest or index (Accept: OCI and Docker types), verified against the reference's digest (when pinned)
    /// and the registry's Docker-Content-Digest.
    /// </summary>
    public async Task<ManifestResponse> GetManifestAsync(ImageReference reference, IPullObserver? observer, CancellationToken ct)
    {
        var c = Connection(reference.Registry);
        var onRetry = (observer ?? IPullObserver.None).Retrying;
        var root = await c.BaseAsync(onRetry, ct);
        var uri = new Uri(root, $"v2/{reference.Repository}/manifests/{reference.ManifestReference}");
        return await c.Retrier.ExecuteAsync($"getting the manifest of {reference}", async (_, token) =>
        {
            using var wd = c.NewWatchdog(token);
            using var response = await c.SendAsync(HttpMethod.Get, uri, [PullScope(reference.Repository)], wd, configure: request =>
            {
                foreach (var type in ManifestAccept) request.Headers.Accept.Add(new(type));
            });
            if (response.StatusCode == HttpStatusCode.NotFound)
            {
                var (text, code) = await RegistryErrors.DescribeAsync(response, token);
                throw new RegistryNotFoundException(code == "NAME_UNKNOWN"
                    ? $"repository {reference.Name} not found ({text})"
                    : $"{reference} not found: no manifest for '{reference.ManifestReference}' in {reference.Name} ({text})", code);
            }
            if (response.StatusCode != HttpStatusCode.OK)
                throw await UnexpectedAsync(c, response, $"GET {RegistryConnection.Show(uri)}", token);
            if (response.Content.Headers.ContentLength > MaxManifestBytes)
                throw new RegistryException($"the manifest of {reference} is larger than {MaxManifestBytes >> 20} MiB");
            var bytes = await ReadLimitedAsync(response, MaxManifestBytes, wd, c.Stats, token)
                ?? throw new RegistryException($"the manifest of {reference} is larger than {MaxManifestBytes >> 20} MiB");
            var digest = reference.Digest is { } pinned ? Digests.Compute(bytes, pinned) : Digests.Sha256(bytes);
            if (reference.Digest is { } want && want != digest)
                throw new DigestMismatchException($"the manifest served for {reference} does not match digest {want} (got {digest})");
            if (response.Headers.TryGetValues("Docker-Content-Digest", out var reported) && reported.First() is var r
                && r.StartsWith("sha256:", StringComparison.Ordinal) && r != Digests.Sha256(bytes))
                throw new DigestMismatchException($"the manifest served for {reference} does not match the digest the registry announced ({r}; got {Digests.Sha256(bytes)})");
            var mediaType = response.Content.Headers.ContentType?.MediaType;
            if (mediaType is null or "application/json" or "text/plain") mediaType = ImageManifests.MediaTypeOf(bytes) ?? mediaType ?? "application/json";
            return new ManifestResponse(mediaType, bytes, digest);
        }, onRetry, ct);
    }

    /// <summary>HEAD on a manifest: true when the tag or digest exists.</summary>
    public async Task<bool> ManifestExistsAsync(ImageReference reference, CancellationToken ct)
    {
        var c = Connection(reference.Registry);
        var root = await c.BaseAsync(null, ct);
        var uri = new Uri(root, $"v2/{reference.Repository}/manifests/{reference.ManifestReference}");
        return await c.Retrier.ExecuteAsync($"checking {reference}", async (_, token) =>
        {
            using var wd = c.NewWatchdog(token);
            using var response = await c.SendAsync(HttpMethod.Head, uri, [PullScope(reference.Repository)], wd, configure: request =>
            {
                foreach (var type in ManifestAccept) request.Headers.Accept.Add(new(type));
            });
            if (response.StatusCode == HttpStatusCode.OK) return true;
            if (response.StatusCode == HttpStatusCode.NotFound) return false;
            throw await UnexpectedAsync(c, response, $"HEAD {RegistryConnection.Show(uri)}", token);
        }, null, ct);
    }

    // ---------------------------------------------------------------------------------------------------- downloads

    /// <summary>
    /// Streams a blob to <paramref name="destination"/> (written under a temporary name, renamed when complete),
    /// hashing as it goes; a size or digest mismatch is a <see cref="DigestMismatchException"/> naming the digest and
    /// nothing is left at the destination. Retried from the start on transient failures.
    /// </summary>
    public async Task DownloadBlobAsync(ImageReference repository, Descriptor blob, string destination, IPullObserver? observer, CancellationToken ct)
    {
        observer ??= IPullObserver.None;
        var c = Connection(repository.Registry);
        var root = await c.BaseAsync(observer.Retrying, ct);
        var uri = new Uri(root, $"v2/{repository.Repository}/blobs/{blob.Digest}");
        var dir = Path.GetDirectoryName(Path.GetFullPath(destination))!;
        Local(() => Directory.CreateDirectory(dir), dir);
        await c.Retrier.ExecuteAsync($"downloading blob {Digests.Short(blob.Digest)} from {repository.Name}", async (_, token) =>
        {
            var temp = Path.Combine(dir, $".{Path.GetFileName(destination)}.{Environment.ProcessId}.{Guid.NewGuid():N}.part");
            try
            {
                using var wd = c.NewWatchdog(token);
                using var response = await GetBlobAsync(c, repository, blob, uri, wd, token);
                using var hash = Digests.HasherFor(blob.Digest);
                long total = 0;
                var buffer = ArrayPool<byte>.Shared.Rent(1 << 20);
                try
                {
                    await using var body = await response.Content.ReadAsStreamAsync(wd.Token);
                    await using var file = Local(() => new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.Asynchronous), dir);
                    int read;
                    while ((read = await ReadAsync(body, buffer, wd)) > 0)
                    {
                        total += read;
                        if (total > blob.Size)
                            throw new DigestMismatchException($"blob {blob.Digest} from {repository.Name} is larger than the {blob.Size} bytes its descriptor says");
                        hash.AppendData(buffer, 0, read);
                        // A local write error (a full disk) is not a network failure: retrying cannot help.
                        try { await file.WriteAsync(buffer.AsMemory(0, read), token); }
                        catch (IOException e) { throw LocalWriteFailed(dir, e); }
                        c.Stats.Received(read);
                        wd.Kick();
                        observer.BlobProgress(blob, total);
                    }
                    try { await file.FlushAsync(token); }
                    catch (IOException e) { throw LocalWriteFailed(dir, e); }
                }
                finally { ArrayPool<byte>.Shared.Return(buffer); }
                if (total != blob.Size)
                    throw new TransientException($"blob {blob.Digest} from {repository.Name} ended after {total} of {blob.Size} bytes");
                var got = $"{Digests.Algorithm(blob.Digest)}:{Convert.ToHexStringLower(hash.GetHashAndReset())}";
                if (got != blob.Digest)
                    throw new DigestMismatchException($"blob {blob.Digest} from {repository.Name} does not match its digest (the registry sent content hashing to {got})");
                Local(() => File.Move(temp, destination, overwrite: true), dir);
            }
            finally
            {
                try { File.Delete(temp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            }
        }, observer.Retrying, ct);
    }

    /// <summary>The pull cache could not be written: says where and why (no space left, permission denied), never retried.</summary>
    private static RegistryException LocalWriteFailed(string directory, Exception e)
    {
        var why = Layout.OciLayoutSink.Describe(e);
        var advice = why == Layout.OciLayoutSink.NoSpace ? " (free some space there, or set BENTO_HOME to a larger disk)" : "";
        return new RegistryException($"cannot write to the image cache {directory}: {why}{advice}", inner: e);
    }

    private static T Local<T>(Func<T> action, string directory)
    {
        try { return action(); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw LocalWriteFailed(directory, e); }
    }

    private static void Local(Action action, string directory) => Local(() => { action(); return true; }, directory);

    /// <summary>GET of a blob: the 200 response, whose body the caller reads and verifies; a missing blob or any other
    /// answer is an error naming it.</summary>
    private static async Task<HttpResponseMessage> GetBlobAsync(RegistryConnection c, ImageReference repository, Descriptor blob, Uri uri, Watchdog wd, CancellationToken ct)
    {
        var response = await c.SendAsync(HttpMethod.Get, uri, [PullScope(repository.Repository)], wd);
        try
        {
            if (response.StatusCode == HttpStatusCode.NotFound)
            {
                var (text, code) = await RegistryErrors.DescribeAsync(response, ct);
                throw new RegistryNotFoundException($"blob {blob.Digest} not found in {repository.Name} ({text})", code);
            }
            if (response.StatusCode != HttpStatusCode.OK)
                throw await UnexpectedAsync(c, response, $"GET {RegistryConnection.Show(uri)}", ct);
            return response;
        }
        catch
        {
            response.Dispose();
            throw;
        }
    }

    /// <summary>A blob small enough to hold in memory (a config), verified.</summary>
    internal async Task<byte[]> GetSmallBlobAsync(ImageReference repository, Descriptor blob, IPullObserver observer, CancellationToken ct)
    {
        if (blob.Size > MaxManifestBytes) throw new RegistryException($"the config blob {blob.Digest} of {repository.Name} is larger than {MaxManifestBytes >> 20} MiB");
        var c = Connection(repository.Registry);
        var root = await c.BaseAsync(observer.Retrying, ct);
        var uri = new Uri(root, $"v2/{repository.Repository}/blobs/{blob.Digest}");
        return await c.Retrier.ExecuteAsync($"downloading blob {Digests.Short(blob.Digest)} from {repository.Name}", async (_, token) =>
        {
            using var wd = c.NewWatchdog(token);
            using var response = await GetBlobAsync(c, repository, blob, uri, wd, token);
            var bytes = await ReadLimitedAsync(response, (int)blob.Size, wd, c.Stats, token);
            if (bytes is null || bytes.Length != blob.Size || Digests.Compute(bytes, blob.Digest) != blob.Digest)
                throw new DigestMismatchException($"blob {blob.Digest} from {repository.Name} does not match its digest");
            return bytes;
        }, observer.Retrying, ct);
    }

    private static async Task<int> ReadAsync(Stream body, byte[] buffer, Watchdog wd)
    {
        try { return await body.ReadAsync(buffer.AsMemory(), wd.Token); }
        catch (OperationCanceledException) when (wd.Expired) { throw new TimeoutException($"download stalled: no data for {wd.Timeout.TotalSeconds:0} s"); }
    }

    /// <summary>The body, or null when it is longer than <paramref name="limit"/>.</summary>
    private static async Task<byte[]?> ReadLimitedAsync(HttpResponseMessage response, int limit, Watchdog wd, TransferStats stats, CancellationToken ct)
    {
        await using var body = await response.Content.ReadAsStreamAsync(wd.Token);
        using var memory = new MemoryStream();
        var buffer = new byte[64 << 10];
        int read;
        while ((read = await ReadAsync(body, buffer, wd)) > 0)
        {
            memory.Write(buffer, 0, read);
            stats.Received(read);
            wd.Kick();
            if (memory.Length > limit) return null;
        }
        return memory.ToArray();
    }

    private static async Task<Exception> UnexpectedAsync(RegistryConnection c, HttpResponseMessage response, string what, CancellationToken ct)
    {
        var (text, code) = await RegistryErrors.DescribeAsync(response, ct);
        if (response.StatusCode == HttpStatusCode.NotFound && code == "NAME_UNKNOWN")
            return new RegistryNotFoundException($"{what} on {c.Registry}: repository not found ({text})", code);
        return new RegistryException($"{what} on {c.Registry} failed: {text}", response.StatusCode, code);
    }

    // ---------------------------------------------------------------------------------------------------- push

    /// <summary>
    /// Pushes <paramref name="image"/> to every reference in <paramref name="targets"/> (several tags, repositories or
    /// registries). Per repository: each blob (config and layers, in parallel, at most
    /// <see cref="RegistryOptions.MaxParallelBlobs"/>) is skipped when the repository has it, mounted when another
    /// repository of the registry is known to have it (the base image's, or one pushed earlier in this call), else
    /// uploaded. The manifest is PUT only when every blob is confirmed present, then once more per additional tag, so a
    /// failed push never leaves a tag pointing at missing blobs.
    /// </summary>
    public async Task<PushResult> PushAsync(Image image, IReadOnlyList<ImageReference> targets, IPushObserver? observer, CancellationToken ct)
    {
        observer ??= IPushObserver.None;
        if (targets.Count == 0) throw new RegistryException("nothing to push to: no image reference given");
        var before = Stats.Snapshot();
        var blobs = new List<IBlob> { new BytesBlob(image.Config, image.ConfigBytes) };
        foreach (var layer in image.Layers)
            if (blobs.All(b => b.Descriptor.Digest != layer.Blob.Descriptor.Digest)) blobs.Add(layer.Blob);

        var pushed = new List<(string Registry, string Repository)>();
        foreach (var group in targets.GroupBy(t => (t.Registry, t.Repository)))
        {
            var (registry, repository) = group.Key;
            var c = Connection(registry);
            var mountSources = blobs.OfType<IBlobOrigin>().Where(o => o.Registry == registry).Select(o => o.Repository)
                .Concat(pushed.Where(p => p.Registry == registry).Select(p => p.Repository))
                .Where(r => r != repository).Distinct().ToList();
            IReadOnlyList<string> scopes = [PushScope(repository), .. mountSources.Select(PullScope)];
            await c.BaseAsync(observer.Retrying, ct);

            await Parallel.ForEachAsync(blobs, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, Options.MaxParallelBlobs), CancellationToken = ct },
                async (blob, token) =>
                {
                    // Its own origin first, then the repositories the image's other blobs came from (the config of a
                    // pulled image sits next to its layers), then those pushed earlier in this call.
                    var candidates = new List<string>();
                    if (blob is IBlobOrigin origin && origin.Registry == registry && origin.Repository != repository) candidates.Add(origin.Repository);
                    candidates.AddRange(mountSources);
                    await EnsureBlobAsync(c, repository, blob, scopes, candidates.Distinct().Take(3).ToList(), observer, token);
                });

            foreach (var target in group)
            {
                var digest = await PutManifestAsync(target, image.Manifest.MediaType, image.ManifestBytes, observer, ct);
                observer.ManifestPushed(target, digest);
            }
            pushed.Add((registry, repository));
        }
        return new PushResult(image.Manifest.Digest, targets, Stats.Snapshot() - before);
    }

    private async Task EnsureBlobAsync(RegistryConnection c, string repository, IBlob blob, IReadOnlyList<string> scopes,
        IReadOnlyList<string> mountFrom, IPushObserver observer, CancellationToken ct)
    {
        var d = blob.Descriptor;
        if (await BlobExistsAsync(c, repository, d, scopes, observer.Retrying, ct))
        {
            c.Stats.Skipped();
            observer.BlobSkipped(d);
            return;
        }
        Uri? session = null;
        foreach (var source in mountFrom)
        {
            var (mounted, opened) = await MountAsync(c, repository, d, source, scopes, observer.Retrying, ct);
            if (mounted)
            {
                c.Stats.Mounted();
                observer.BlobMounted(d, source);
                return;
            }
            if (opened is not null)
            {
                if (session is not null) await AbandonAsync(c, session, scopes, ct);
                session = opened;
            }
        }
        observer.BlobStarted(d);
        await UploadAsync(c, repository, blob, scopes, observer, session, ct);
        c.Stats.Uploaded();
        observer.BlobDone(d);
    }

    /// <summary>Best effort: tells the registry an upload session will not be used.</summary>
    private static async Task AbandonAsync(RegistryConnection c, Uri session, IReadOnlyList<string> scopes, CancellationToken ct)
    {
        try
        {
            using var wd = c.NewWatchdog(ct);
            using var _ = await c.SendAsync(HttpMethod.Delete, session, scopes, wd);
        }
        catch (Exception e) when (e is RegistryException or TransientException or HttpRequestException or IOException or TimeoutException) { }
    }

    public void Dispose()
    {
        foreach (var connection in _connections.Values)
            if (connection.IsValueCreated) connection.Value.Dispose();
    }
}
