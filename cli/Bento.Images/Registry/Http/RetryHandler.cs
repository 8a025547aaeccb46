using System.Net;
using Bento.Core;

namespace Bento.Images.Registry.Http;

/// <summary>
/// The outermost handler: turns what went wrong into the exceptions the client reasons with — a request without
/// progress for the request timeout is a <see cref="TimeoutException"/>, 408/429/5xx and connection resets are
/// <see cref="TransientException"/>s, a refused connection or unknown host is a <see cref="RegistryException"/> — and
/// sends a request marked with a <see cref="RetryPlan"/> again with backoff (<see cref="Retrier"/>: Polly, honouring
/// Retry-After), each attempt bounded by its own inactivity watchdog. Its small body is read within the attempt, so a
/// body cut off midway is retried too. Unmarked requests (blob chunks and bodies, whose retry resumes where the
/// registry stands) go out once, bounded by the caller's watchdog.
/// </summary>
internal sealed class RetryHandler(Retrier retrier, RegistryOptions options, TransferStats stats) : DelegatingHandler
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken ct)
    {
        if (request.Options.TryGetValue(RegistryRequest.Ping, out var ping) && ping) return await base.SendAsync(request, ct);
        if (!request.Options.TryGetValue(RegistryRequest.Retry, out var plan))
        {
            request.Options.TryGetValue(RegistryRequest.Watchdog, out var watchdog);
            return await AttemptAsync(request, watchdog, buffer: false, ct);
        }
        return await retrier.ExecuteAsync(plan.Operation, async (_, token) =>
        {
            using var wd = new Watchdog(options.RequestTimeout, token);
            return await AttemptAsync(request, wd, buffer: true, wd.Token);
        }, plan.OnRetry, ct);
    }

    private async Task<HttpResponseMessage> AttemptAsync(HttpRequestMessage request, Watchdog? wd, bool buffer, CancellationToken ct)
    {
        var registry = request.Options.TryGetValue(RegistryRequest.Registry, out var r) ? r : request.RequestUri?.Authority ?? "";
        var uri = request.RequestUri!;
        var what = $"{request.Method} {RegistryRequest.Show(uri)} on {registry}";
        HttpResponseMessage response;
        try
        {
            response = await base.SendAsync(request, ct);
            wd?.Kick();
            if (RegistryErrors.IsTransient(response.StatusCode))
            {
                using (response)
                {
                    var (text, _) = await RegistryErrors.DescribeAsync(response, ct);
                    throw new TransientException($"{what}: {text}", RegistryErrors.RetryAfter(response), response.StatusCode);
                }
            }
            if (buffer && request.Method != HttpMethod.Head) await BufferAsync(response, what, ct);
            return response;
        }
        catch (OperationCanceledException e) when (wd is not null && wd.IsConnectTimeout(e))
        {
            // The registry answered before (the ping); a connection that cannot be made now is worth retrying.
            throw new TimeoutException($"{what}: no connection within {options.ConnectTimeout.TotalSeconds:0} s", e);
        }
        catch (OperationCanceledException) when (wd is not null && wd.Expired)
        {
            throw new TimeoutException($"{what}: no progress for {wd.Timeout.TotalSeconds:0} s");
        }
        catch (HttpRequestException e) when (Retrier.IsRefused(e) || e.HttpRequestError == HttpRequestError.NameResolutionError)
        {
            throw RegistryTransport.Unreachable(registry, e);
        }
        catch (HttpRequestException e) when (Inner<BentoException>(e) is { } ours)
        {
            // Our own verdict, found while sending the body: a blob shorter than its descriptor, or one whose bytes
            // do not hash to its digest (a corrupted layout blob, a weight file changed since it was hashed).
            throw ours;
        }
        catch (HttpRequestException e) when (!Retrier.IsTransient(e))
        {
            throw new RegistryException($"{what} failed: {Retrier.Describe(e)}", inner: e);
        }
    }

    /// <summary>
    /// Reads a small answer into memory inside the attempt (so a body cut off midway is retried like any failure); an
    /// answer over 4 MiB is refused: registries answer these requests with documents of
    /// a few KiB, and manifests are capped at 4 MiB.
    /// </summary>
    private async Task BufferAsync(HttpResponseMessage response, string what, CancellationToken ct)
    {
        var limit = RegistryClient.MaxManifestBytes;
        if (response.Content.Headers.ContentLength > limit)
        {
            response.Dispose();
            throw new RegistryException($"{what}: the answer is larger than {limit >> 20} MiB");
        }
        using var memory = new MemoryStream();
        try
        {
            await using var body = await response.Content.ReadAsStreamAsync(ct);
            var buffer = new byte[64 << 10];
            int read;
            while ((read = await body.ReadAsync(buffer, ct)) > 0)
            {
                memory.Write(buffer, 0, read);
                stats.Received(read);
                if (memory.Length > limit)
                {
                    response.Dispose();
                    throw new RegistryException($"{what}: the answer is larger than {limit >> 20} MiB");
                }
            }
        }
        catch (Exception e) when (e is IOException or HttpRequestException)
        {
            response.Dispose();
            throw new TransientException($"{what}: the answer broke off ({Retrier.Describe(e)})", inner: e);
        }
        var content = new ByteArrayContent(memory.ToArray());
        foreach (var header in response.Content.Headers) content.Headers.TryAddWithoutValidation(header.Key, header.Value);
        response.Content.Dispose();
        response.Content = content;
    }

    private static T? Inner<T>(Exception e) where T : Exception
    {
        for (var x = e.InnerException; x is not null; x = x.InnerException)
            if (x is T t) return t;
        return null;
    }
}
