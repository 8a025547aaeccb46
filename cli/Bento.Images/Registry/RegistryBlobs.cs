using System.Buffers;
using System.Net;
using Bento.Images.Oci;
using Bento.Images.Registry.Http;

namespace Bento.Images.Registry;

/// <summary>
/// The distribution API's blob operations, shared by image pushes, artifact pushes and pulls: existence checks,
/// cross-repository mounts, monolithic and chunked uploads that resume where the registry stands, and verified
/// downloads. Simple requests are retried by the transport's <see cref="RetryHandler"/>; chunks and bodies here.
/// </summary>
internal sealed class RegistryBlobs(RegistryTransport transport)
{
    private RegistryOptions Options => transport.Options;
    private TransferStats Stats => transport.Stats;
    private Retrier Retrier => transport.Retrier;

    public static string PullScope(string repository) => $"repository:{repository}:pull";
    public static string PushScope(string repository) => $"repository:{repository}:pull,push";

    public async Task<bool> ExistsAsync(string registry, string repository, Descriptor blob, IReadOnlyList<string> scopes,
        Action<string, int, TimeSpan, string>? onRetry, CancellationToken ct)
    {
        var root = await transport.BaseAsync(registry, onRetry, ct);
        var uri = new Uri(root, $"v2/{repository}/blobs/{blob.Digest}");
        using var response = await transport.SendRetriedAsync(HttpMethod.Head, uri, registry, scopes,
            $"checking blob {Digests.Short(blob.Digest)} in {registry}/{repository}", onRetry, ct);
        if (response.StatusCode == HttpStatusCode.OK) return true;
        if (response.StatusCode == HttpStatusCode.NotFound) return false;
        throw await UnexpectedAsync(registry, response, $"HEAD {RegistryRequest.Show(uri)}", ct);
    }

    /// <summary>
    /// Asks the registry to link <paramref name="blob"/> from <paramref name="fromRepository"/>: true when it did (201);
    /// otherwise the upload session it opened instead (202), if any.
    /// </summary>
    public async Task<(bool Mounted, Uri? Session)> MountAsync(string registry, string repository, Descriptor blob, string fromRepository,
        IReadOnlyList<string> scopes, Action<string, int, TimeSpan, string>? onRetry, CancellationToken ct)
    {
        var root = await transport.BaseAsync(registry, onRetry, ct);
        var uri = new Uri(root, $"v2/{repository}/blobs/uploads/?mount={Uri.EscapeDataString(blob.Digest)}&from={Uri.EscapeDataString(fromRepository)}");
        try
        {
            using var response = await transport.SendRetriedAsync(HttpMethod.Post, uri, registry, scopes,
                $"mounting blob {Digests.Short(blob.Digest)} from {fromRepository}", onRetry, ct, new ByteArrayContent([]));
            if (response.StatusCode == HttpStatusCode.Created) return (true, null);
            if (response.StatusCode == HttpStatusCode.Accepted && response.Headers.Location is { } location) return (false, new Uri(uri, location));
            return (false, null); // not mountable here; upload instead
        }
        catch (RegistryException e) when (e is not DigestMismatchException && !ct.IsCancellationRequested)
        {
            // A mount is only a shortcut: no pull access to the source repository, or a registry that refuses or keeps
            // failing cross-repository mounts (5xx after the retries), means the blob is uploaded instead.
            return (false, null);
        }
    }

    /// <summary>Uploads one blob (it must not be assumed present); the strategy follows <see cref="RegistryOptions.Upload"/>.</summary>
    public async Task UploadAsync(string registry, string repository, IBlob blob, IReadOnlyList<string> scopes, IPushObserver observer, Uri? session, CancellationToken ct)
    {
        var d = blob.Descriptor;
        await using var cursor = new BlobCursor(blob);
        for (var restart = 0; ; restart++)
        {
            try
            {
                long? minChunk = null;
                if (session is null) (session, minChunk) = await StartUploadAsync(registry, repository, scopes, observer, ct);
                var (chunked, chunkSize) = Options.Upload.Plan(registry, d.Size, minChunk);
                var location = session;
                session = null;
                if (chunked) location = await SendChunksAsync(registry, repository, d, cursor, location, chunkSize, scopes, observer, ct);
                await CompleteUploadAsync(registry, repository, d, cursor, location, withBody: !chunked, scopes, observer, ct);
                return;
            }
            catch (UploadSessionLostException lost)
            {
                if (restart >= Options.Upload.MaxRestarts)
                    throw new RegistryException($"uploading blob {d.Digest} to {registry}/{repository} failed: {lost.Message} (gave up after {restart + 1} upload sessions)");
                Stats.Restart();
                observer.Retrying($"uploading blob {Digests.Short(d.Digest)}", restart + 1, TimeSpan.Zero, lost.Message + "; starting the blob again");
                observer.BlobProgress(d, 0);
            }
        }
    }

    private async Task<(Uri Location, long? MinChunk)> StartUploadAsync(string registry, string repository, IReadOnlyList<string> scopes,
        IPushObserver observer, CancellationToken ct)
    {
        var root = await transport.BaseAsync(registry, observer.Retrying, ct);
        var uri = new Uri(root, $"v2/{repository}/blobs/uploads/");
        using var response = await transport.SendRetriedAsync(HttpMethod.Post, uri, registry, scopes,
            $"starting an upload to {registry}/{repository}", observer.Retrying, ct, new ByteArrayContent([]));
        if (response.StatusCode != HttpStatusCode.Accepted)
            throw await UnexpectedAsync(registry, response, $"POST {RegistryRequest.Show(uri)}", ct);
        var location = response.Headers.Location
            ?? throw new RegistryException($"registry {registry} opened an upload without telling where to send it (no Location header)");
        long? min = response.Headers.TryGetValues("OCI-Chunk-Min-Length", out var values) && long.TryParse(values.First(), out var m) ? m : null;
        return (new Uri(uri, location), min);
    }

    /// <summary>
    /// PATCHes the blob in chunks, following each new Location. After a failure, asks the registry how much it has
    /// (GET on the upload URL: <c>Range: 0-N</c>) and continues from there; a session the registry lost ends the attempt
    /// with <see cref="UploadSessionLostException"/> and the caller starts over.
    /// </summary>
    private async Task<Uri> SendChunksAsync(string registry, string repository, Descriptor d, BlobCursor cursor, Uri location,
        long chunkSize, IReadOnlyList<string> scopes, IPushObserver observer, CancellationToken ct)
    {
        long offset = 0;
        while (offset < d.Size)
        {
            await Retrier.ExecuteAsync($"uploading blob {Digests.Short(d.Digest)} to {registry}/{repository}", async (attempt, token) =>
            {
                if (attempt > 0)
                {
                    (location, offset) = await UploadStatusAsync(registry, location, scopes, token);
                    Stats.Resume();
                    observer.BlobProgress(d, offset);
                    if (offset >= d.Size) return;
                }
                var start = offset;
                var length = Math.Min(chunkSize, d.Size - start);
                using var wd = transport.NewWatchdog(token);
                var content = new UploadContent(t => cursor.AtAsync(start, t), length, Stats, wd, sent => observer.BlobProgress(d, start + sent),
                    endsBlob: start + length == d.Size);
                content.Headers.TryAddWithoutValidation("Content-Range", $"{start}-{start + length - 1}");
                using var response = await transport.SendOnceAsync(HttpMethod.Patch, location, registry, scopes, wd, content);
                switch (response.StatusCode)
                {
                    case HttpStatusCode.Accepted:
                        Stats.Chunk();
                        if (response.Headers.Location is { } next) location = new Uri(location, next);
                        // Trust what the registry says it holds: a registry that kept less is resumed from there.
                        offset = ReceivedBytes(response) is { } received && received <= start + length && received > start ? received : start + length;
                        return;
                    case HttpStatusCode.RequestedRangeNotSatisfiable:
                        throw new TransientException($"registry {registry} refused the chunk at offset {start} (416); resuming from what it has", status: response.StatusCode);
                    case HttpStatusCode.NotFound:
                        throw new UploadSessionLostException($"registry {registry} no longer knows the upload session ({(await RegistryErrors.DescribeAsync(response, token)).Text})");
                    default:
                        throw await UnexpectedAsync(registry, response, $"PATCH {RegistryRequest.Show(location)}", token);
                }
            }, observer.Retrying, ct);
        }
        return location;
    }

    /// <summary>GET on the upload URL: the (possibly new) Location and how many bytes the registry holds.</summary>
    private async Task<(Uri Location, long Received)> UploadStatusAsync(string registry, Uri location, IReadOnlyList<string> scopes, CancellationToken ct)
    {
        using var wd = transport.NewWatchdog(ct);
        using var response = await transport.SendOnceAsync(HttpMethod.Get, location, registry, scopes, wd);
        if (response.StatusCode == HttpStatusCode.NotFound)
            throw new UploadSessionLostException($"registry {registry} no longer knows the upload session ({(await RegistryErrors.DescribeAsync(response, ct)).Text})");
        if (response.StatusCode is not (HttpStatusCode.NoContent or HttpStatusCode.OK or HttpStatusCode.Accepted))
            throw await UnexpectedAsync(registry, response, $"GET {RegistryRequest.Show(location)}", ct);
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
    private async Task CompleteUploadAsync(string registry, string repository, Descriptor d, BlobCursor cursor, Uri location, bool withBody,
        IReadOnlyList<string> scopes, IPushObserver observer, CancellationToken ct)
    {
        var uri = RegistryTransport.AppendQuery(location, "digest=" + Uri.EscapeDataString(d.Digest));
        await Retrier.ExecuteAsync($"uploading blob {Digests.Short(d.Digest)} to {registry}/{repository}", async (attempt, token) =>
        {
            using var wd = transport.NewWatchdog(token);
            HttpResponseMessage response;
            try
            {
                HttpContent content = withBody
                    ? new UploadContent(t => cursor.AtAsync(0, t), d.Size, Stats, wd, sent => observer.BlobProgress(d, sent), endsBlob: true)
                    : new ByteArrayContent([]) { Headers = { ContentType = new("application/octet-stream") } };
                response = await transport.SendOnceAsync(HttpMethod.Put, uri, registry, scopes, wd, content);
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
                        throw new DigestMismatchException($"registry {registry} stored blob {d.Digest} as {got}: the blob's bytes do not match its digest");
                    return;
                }
                if (response.StatusCode == HttpStatusCode.NotFound)
                {
                    if (await ExistsAsync(registry, repository, d, scopes, null, token)) return;
                    throw new UploadSessionLostException($"registry {registry} no longer knows the upload session ({(await RegistryErrors.DescribeAsync(response, token)).Text})");
                }
                var (text, code) = await RegistryErrors.DescribeAsync(response, token);
                if (code is "DIGEST_INVALID" or "SIZE_INVALID")
                    throw new DigestMismatchException($"registry {registry} rejected blob {d.Digest}: {text} (the blob's bytes do not match its descriptor)");
                throw new RegistryException($"uploading blob {d.Digest} to {registry}/{repository} failed: {text}", response.StatusCode, code);
            }
        }, observer.Retrying, ct);
        observer.BlobProgress(d, d.Size);
    }

    /// <summary>Best effort: tells the registry an upload session will not be used.</summary>
    public async Task AbandonAsync(string registry, Uri session, IReadOnlyList<string> scopes, CancellationToken ct)
    {
        try
        {
            using var wd = transport.NewWatchdog(ct);
            using var _ = await transport.SendOnceAsync(HttpMethod.Delete, session, registry, scopes, wd);
        }
        catch (Exception e) when (e is RegistryException or TransientException or HttpRequestException or IOException or TimeoutException) { }
    }

    /// <summary>
    /// Streams a blob to <paramref name="destination"/> (written under a temporary name beside it, renamed when
    /// complete), hashing as it goes; a size or digest mismatch is a <see cref="DigestMismatchException"/> naming the
    /// digest and nothing is left at the destination. Retried from the start on transient failures.
    /// </summary>
    public async Task DownloadAsync(ImageReference repository, Descriptor blob, string destination, IPullObserver observer, CancellationToken ct)
    {
        var registry = repository.Registry;
        var root = await transport.BaseAsync(registry, observer.Retrying, ct);
        var uri = new Uri(root, $"v2/{repository.Repository}/blobs/{blob.Digest}");
        var dir = Path.GetDirectoryName(Path.GetFullPath(destination))!;
        Local(() => Directory.CreateDirectory(dir), dir);
        await Retrier.ExecuteAsync($"downloading blob {Digests.Short(blob.Digest)} from {repository.Name}", async (_, token) =>
        {
            var temp = Path.Combine(dir, $".{Path.GetFileName(destination)}.{Environment.ProcessId}.{Guid.NewGuid():N}.part");
            try
            {
                using var wd = transport.NewWatchdog(token);
                using var response = await GetAsync(repository, blob, uri, wd, token);
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
                        Stats.Received(read);
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

    /// <summary>A blob small enough to hold in memory (a config), verified.</summary>
    public async Task<byte[]> GetSmallAsync(ImageReference repository, Descriptor blob, IPullObserver observer, CancellationToken ct)
    {
        if (blob.Size > RegistryClient.MaxManifestBytes)
            throw new RegistryException($"the config blob {blob.Digest} of {repository.Name} is larger than {RegistryClient.MaxManifestBytes >> 20} MiB");
        var registry = repository.Registry;
        var root = await transport.BaseAsync(registry, observer.Retrying, ct);
        var uri = new Uri(root, $"v2/{repository.Repository}/blobs/{blob.Digest}");
        using var response = await transport.SendRetriedAsync(HttpMethod.Get, uri, registry, [PullScope(repository.Repository)],
            $"downloading blob {Digests.Short(blob.Digest)} from {repository.Name}", observer.Retrying, ct);
        await ThrowUnlessOkAsync(repository, blob, uri, response, ct);
        var bytes = await response.Content.ReadAsByteArrayAsync(ct);
        if (bytes.Length != blob.Size || Digests.Compute(bytes, blob.Digest) != blob.Digest)
            throw new DigestMismatchException($"blob {blob.Digest} from {repository.Name} does not match its digest");
        return bytes;
    }

    /// <summary>GET of a blob: the 200 response, whose body the caller reads and verifies; a missing blob or any other
    /// answer is an error naming it.</summary>
    private async Task<HttpResponseMessage> GetAsync(ImageReference repository, Descriptor blob, Uri uri, Watchdog wd, CancellationToken ct)
    {
        var response = await transport.SendOnceAsync(HttpMethod.Get, uri, repository.Registry, [PullScope(repository.Repository)], wd);
        try
        {
            await ThrowUnlessOkAsync(repository, blob, uri, response, ct);
            return response;
        }
        catch
        {
            response.Dispose();
            throw;
        }
    }

    private static async Task ThrowUnlessOkAsync(ImageReference repository, Descriptor blob, Uri uri, HttpResponseMessage response, CancellationToken ct)
    {
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            var (text, code) = await RegistryErrors.DescribeAsync(response, ct);
            throw new RegistryNotFoundException($"blob {blob.Digest} not found in {repository.Name} ({text})", code);
        }
        if (response.StatusCode != HttpStatusCode.OK)
            throw await UnexpectedAsync(repository.Registry, response, $"GET {RegistryRequest.Show(uri)}", ct);
    }

    /// <summary>The pull cache could not be written: says where and why (no space left, permission denied), never retried.</summary>
    private static RegistryException LocalWriteFailed(string directory, Exception e)
    {
        var why = Layout.OciLayoutSink.Describe(e);
        var advice = why == Layout.OciLayoutSink.NoSpace ? " (free some space there, or set BENTO_HOME to a larger disk)" : "";
        return new RegistryException($"cannot write to {directory}: {why}{advice}", inner: e);
    }

    private static T Local<T>(Func<T> action, string directory)
    {
        try { return action(); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw LocalWriteFailed(directory, e); }
    }

    private static void Local(Action action, string directory) => Local(() => { action(); return true; }, directory);

    private static async Task<int> ReadAsync(Stream body, byte[] buffer, Watchdog wd)
    {
        try { return await body.ReadAsync(buffer.AsMemory(), wd.Token); }
        catch (OperationCanceledException) when (wd.Expired) { throw new TimeoutException($"download stalled: no data for {wd.Timeout.TotalSeconds:0} s"); }
    }

    public static async Task<Exception> UnexpectedAsync(string registry, HttpResponseMessage response, string what, CancellationToken ct)
    {
        var (text, code) = await RegistryErrors.DescribeAsync(response, ct);
        if (response.StatusCode == HttpStatusCode.NotFound && code == "NAME_UNKNOWN")
            return new RegistryNotFoundException($"{what} on {registry}: repository not found ({text})", code);
        return new RegistryException($"{what} on {registry} failed: {text}", response.StatusCode, code);
    }
}
