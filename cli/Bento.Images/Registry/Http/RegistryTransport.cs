using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using Bento.Images.Registry.Auth;

namespace Bento.Images.Registry.Http;

/// <summary>
/// One HttpClient for every registry, its handlers stacked as go-containerregistry's transport is:
/// <see cref="RetryHandler"/> (errors to exceptions, retries with backoff) around <see cref="AuthHandler"/> (Basic or
/// bearer tokens per scope) around <see cref="CountingHandler"/> around a SocketsHttpHandler (TLS relaxed only for the
/// hosts of the insecure registries). It also finds each registry's API root with <c>GET /v2/</c> on first use: https,
/// or http for an insecure registry that does not speak TLS; a 401 there records the registry's challenge.
/// </summary>
internal sealed class RegistryTransport : IDisposable
{
    private readonly HttpClient _http;
    private readonly ConcurrentDictionary<string, Endpoint> _endpoints = new(StringComparer.OrdinalIgnoreCase);

    public RegistryTransport(RegistryOptions options, TransferStats stats, Retrier retrier, CredentialResolver resolver, CredentialLookup? fixedCredentials = null)
    {
        Options = options;
        Stats = stats;
        Retrier = retrier;
        var insecureHosts = options.Insecure.Select(e => HostOf(ImageReference.NormalizeRegistry(e) ?? e)).ToHashSet(StringComparer.OrdinalIgnoreCase);
        var sockets = new SocketsHttpHandler
        {
            ConnectTimeout = options.ConnectTimeout,
            PooledConnectionLifetime = TimeSpan.FromMinutes(10),
            AutomaticDecompression = DecompressionMethods.None,
            AllowAutoRedirect = true, // blob downloads redirect to storage; Authorization is dropped on redirect
            MaxAutomaticRedirections = 5,
            UseCookies = false,
            UseProxy = true,
            SslOptions = new SslClientAuthenticationOptions
            {
                // Untrusted certificates are accepted only from the hosts of registries named insecure.
                RemoteCertificateValidationCallback = (sender, _, _, errors) =>
                    errors == SslPolicyErrors.None || sender is SslStream ssl && insecureHosts.Contains(ssl.TargetHostName),
            },
        };
        Auth = new AuthHandler(options, stats, resolver, fixedCredentials) { InnerHandler = new CountingHandler(stats, sockets) };
        _http = new HttpClient(new RetryHandler(retrier, options, stats) { InnerHandler = Auth }) { Timeout = Timeout.InfiniteTimeSpan };
        _http.DefaultRequestHeaders.TryAddWithoutValidation("User-Agent", options.UserAgent);
    }

    public RegistryOptions Options { get; }
    public TransferStats Stats { get; }
    public Retrier Retrier { get; }
    public AuthHandler Auth { get; }

    public Watchdog NewWatchdog(CancellationToken ct) => new(Options.RequestTimeout, ct);

    /// <summary>Sends through the handlers; the response is returned once its headers are in (dispose it).</summary>
    public Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken ct) =>
        _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);

    /// <summary>
    /// A request the retry handler sends again by itself when it fails in a way worth retrying (its body, if any, is
    /// a byte array); <paramref name="operation"/> names it in messages and retry reports.
    /// </summary>
    public async Task<HttpResponseMessage> SendRetriedAsync(HttpMethod method, Uri uri, string registry, IReadOnlyList<string> scopes, string operation,
        Action<string, int, TimeSpan, string>? onRetry, CancellationToken ct, HttpContent? content = null, Action<HttpRequestMessage>? configure = null)
    {
        using var request = RegistryRequest.Create(method, uri, registry, scopes);
        request.Content = content;
        configure?.Invoke(request);
        request.Options.Set(RegistryRequest.Retry, new RetryPlan(operation, onRetry));
        return await SendAsync(request, ct);
    }

    /// <summary>A request sent once, bounded by <paramref name="wd"/>: the caller retries it (chunks, blob bodies).</summary>
    public Task<HttpResponseMessage> SendOnceAsync(HttpMethod method, Uri uri, string registry, IReadOnlyList<string> scopes, Watchdog wd,
        HttpContent? content = null)
    {
        var request = RegistryRequest.Create(method, uri, registry, scopes);
        request.Content = content;
        request.Options.Set(RegistryRequest.Watchdog, wd);
        return SendAsync(request, wd.Token);
    }

    public static string HostOf(string registry)
    {
        if (registry.StartsWith('['))
        {
            var close = registry.IndexOf(']');
            return registry[1..close];
        }
        var colon = registry.LastIndexOf(':');
        return colon < 0 ? registry : registry[..colon];
    }

    public static Uri AppendQuery(Uri uri, string query)
    {
        if (query.Length == 0) return uri;
        var builder = new UriBuilder(uri);
        builder.Query = string.IsNullOrEmpty(builder.Query) || builder.Query == "?" ? query : builder.Query.TrimStart('?') + "&" + query;
        return builder.Uri;
    }

    public static RegistryException Unreachable(string registry, HttpRequestException e) =>
        new($"cannot reach registry {registry}: {(e.HttpRequestError == HttpRequestError.NameResolutionError ? "host not found" : Retrier.Describe(e))}", inner: e);

    /// <summary>The API root of <paramref name="registry"/> (<c>https://HOST/</c>), found by <c>GET /v2/</c> on first use.</summary>
    public Task<Uri> BaseAsync(string registry, Action<string, int, TimeSpan, string>? onRetry, CancellationToken ct) =>
        _endpoints.GetOrAdd(registry, r => new Endpoint(r)).BaseAsync(this, onRetry, ct);

    /// <summary>Checks credentials the way <c>bento login</c> needs: a request that needs them must succeed.</summary>
    public async Task VerifyCredentialsAsync(string registry, CancellationToken ct)
    {
        var root = await BaseAsync(registry, null, ct);
        var state = Auth.State(registry);
        if (state.Challenge is not { } challenge) return; // the registry lets anyone in
        if (challenge.IsBearer)
        {
            await Retrier.ExecuteAsync($"logging in to {registry}", async (_, token) =>
            {
                using var wd = NewWatchdog(token);
                await Auth.FetchTokenAsync(state, challenge, [], state.Credentials(), wd.Token);
            }, null, ct);
            return;
        }
        using var response = await SendRetriedAsync(HttpMethod.Get, new Uri(root, "v2/"), registry, [], $"logging in to {registry}", null, ct);
        if (!response.IsSuccessStatusCode)
        {
            var (text, code) = await RegistryErrors.DescribeAsync(response, ct);
            throw new RegistryException($"logging in to {registry} failed: {text}", response.StatusCode, code);
        }
    }

    public void Dispose() => _http.Dispose();

    /// <summary>One registry's API root, found once (concurrent callers wait for the first).</summary>
    private sealed class Endpoint(string registry)
    {
        private readonly SemaphoreSlim _gate = new(1, 1);
        private volatile Uri? _base;

        public async Task<Uri> BaseAsync(RegistryTransport transport, Action<string, int, TimeSpan, string>? onRetry, CancellationToken ct)
        {
            if (_base is not null) return _base;
            await _gate.WaitAsync(ct);
            try
            {
                if (_base is not null) return _base;
                await transport.Retrier.ExecuteAsync($"contacting registry {registry}", (_, token) => PingAsync(transport, token), onRetry, ct);
                return _base!;
            }
            finally { _gate.Release(); }
        }

        private async Task PingAsync(RegistryTransport transport, CancellationToken ct)
        {
            var options = transport.Options;
            var insecure = options.IsInsecure(registry);
            var schemes = insecure ? new[] { "https", "http" } : ["https"];
            foreach (var scheme in schemes)
            {
                var root = new Uri($"{scheme}://{registry}/");
                using var wd = transport.NewWatchdog(ct);
                HttpResponseMessage response;
                try
                {
                    using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(root, "v2/"));
                    request.Options.Set(RegistryRequest.Ping, true);
                    response = await transport.SendAsync(request, wd.Token);
                }
                catch (OperationCanceledException e) when (wd.IsConnectTimeout(e))
                {
                    // Not even a TCP connection (over http it would be the same): unreachable, like a refused connection.
                    throw new RegistryException(
                        $"cannot reach registry {registry}: no connection within {options.ConnectTimeout.TotalSeconds:0} s " +
                        "(is the host up and the port right, or does a firewall drop the connection?)", inner: e);
                }
                catch (OperationCanceledException) when (wd.Expired)
                {
                    if (scheme == "https" && insecure) continue; // a plain-http server that ignores the TLS hello
                    throw new TimeoutException($"no response from {registry} within {wd.Timeout.TotalSeconds:0} s");
                }
                catch (HttpRequestException e) when (Retrier.IsRefused(e) || e.HttpRequestError == HttpRequestError.NameResolutionError)
                {
                    if (scheme == "https" && insecure) continue; // same answer over http; say it once below
                    throw Unreachable(registry, e);
                }
                catch (HttpRequestException e) when (scheme == "https" && e.HttpRequestError is HttpRequestError.SecureConnectionError
                                                         or HttpRequestError.InvalidResponse or HttpRequestError.ResponseEnded or HttpRequestError.HttpProtocolError)
                {
                    if (insecure) continue; // an insecure registry may speak plain http
                    throw new RegistryException(
                        $"cannot connect to registry {registry} over https ({Retrier.Describe(e)}); if it serves plain http or uses a " +
                        $"self-signed certificate, allow it with --insecure {registry}", inner: e);
                }
                using (response)
                {
                    if (response.StatusCode == HttpStatusCode.OK)
                    {
                        _base = root;
                        return;
                    }
                    if (response.StatusCode == HttpStatusCode.Unauthorized)
                    {
                        transport.Auth.State(registry).Challenge = AuthChallenge.Preferred(AuthChallenge.Parse(AuthHandler.Challenges(response)))
                            ?? throw new RegistryException($"registry {registry} answered GET /v2/ with HTTP 401 but no authentication challenge it supports (Basic or Bearer)", HttpStatusCode.Unauthorized);
                        _base = root;
                        return;
                    }
                    var (text, code) = await RegistryErrors.DescribeAsync(response, ct);
                    if (RegistryErrors.IsTransient(response.StatusCode))
                        throw new TransientException($"{registry}: {text}", RegistryErrors.RetryAfter(response), response.StatusCode);
                    throw new RegistryException($"{registry} does not serve the registry API (GET /v2/ gave {text})", response.StatusCode, code);
                }
            }
            throw new RegistryException($"cannot reach registry {registry} (neither https nor http answered)");
        }
    }
}
