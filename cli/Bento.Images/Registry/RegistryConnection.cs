using System.Net;
using System.Net.Http.Headers;
using System.Net.Security;
using System.Text;
using System.Text.Json;
using Bento.Core;
using Bento.Images.Registry.Auth;

namespace Bento.Images.Registry;

/// <summary>
/// Everything about talking to one registry host: its own HttpClient (SocketsHttpHandler; TLS relaxed only for this
/// host and only when it is in the insecure list), the scheme found by the first <c>GET /v2/</c> (https; http only for
/// an insecure registry that does not speak TLS), the authentication challenge, the credentials and the token cache
/// (one bearer token per set of scopes).
/// </summary>
internal sealed class RegistryConnection : IDisposable
{
    private static readonly TimeSpan DefaultTokenLifetime = TimeSpan.FromSeconds(60);
    private readonly RegistryOptions _options;
    private readonly CredentialResolver _resolver;
    private readonly HttpClient _http;
    private readonly SemaphoreSlim _pingGate = new(1, 1);
    private readonly SemaphoreSlim _tokenGate = new(1, 1);
    private readonly Dictionary<string, (string Token, DateTimeOffset Expires)> _tokens = new();
    private readonly object _lock = new();
    // Written once (under _pingGate, after _challenge) and read without a lock: volatile so a thread that sees the root
    // also sees the challenge found with it.
    private volatile Uri? _base;
    private AuthChallenge? _challenge;
    private CredentialLookup? _credentials;

    public RegistryConnection(string registry, RegistryOptions options, TransferStats stats, Retrier retrier, CredentialResolver resolver, CredentialLookup? credentials = null)
    {
        Registry = registry;
        _options = options;
        _resolver = resolver;
        _credentials = credentials;
        Stats = stats;
        Retrier = retrier;
        Insecure = options.IsInsecure(registry);
        var host = HostOf(registry);
        var insecure = Insecure;
        var handler = new SocketsHttpHandler
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
                // Untrusted certificates are accepted only from this registry's own host, and only when it is insecure.
                RemoteCertificateValidationCallback = (sender, _, _, errors) =>
                    errors == SslPolicyErrors.None
                    || (insecure && sender is SslStream ssl && string.Equals(ssl.TargetHostName, host, StringComparison.OrdinalIgnoreCase)),
            },
        };
        _http = new HttpClient(new CountingHandler(stats, handler)) { Timeout = Timeout.InfiniteTimeSpan };
        _http.DefaultRequestHeaders.TryAddWithoutValidation("User-Agent", options.UserAgent);
    }

    public string Registry { get; }
    public bool Insecure { get; }
    public TransferStats Stats { get; }
    public Retrier Retrier { get; }
    public TimeSpan RequestTimeout => _options.RequestTimeout;

    /// <summary>Where the credentials came from (or where none were found), for messages.</summary>
    public string CredentialSource => _credentials?.Describe() ?? "no credentials (the registry did not ask for any)";

    public Watchdog NewWatchdog(CancellationToken ct) => new(_options.RequestTimeout, ct);

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

    /// <summary>The API root (<c>https://HOST/</c>), found by <c>GET /v2/</c> on first use.</summary>
    public async Task<Uri> BaseAsync(Action<string, int, TimeSpan, string>? onRetry, CancellationToken ct)
    {
        if (_base is not null) return _base;
        await _pingGate.WaitAsync(ct);
        try
        {
            if (_base is not null) return _base;
            await Retrier.ExecuteAsync($"contacting registry {Registry}", (_, token) => PingAsync(token), onRetry, ct);
            return _base!;
        }
        finally { _pingGate.Release(); }
    }

    private async Task PingAsync(CancellationToken ct)
    {
        var schemes = Insecure ? new[] { "https", "http" } : ["https"];
        foreach (var scheme in schemes)
        {
            var root = new Uri($"{scheme}://{Registry}/");
            using var wd = NewWatchdog(ct);
            HttpResponseMessage response;
            try
            {
                response = await _http.GetAsync(new Uri(root, "v2/"), HttpCompletionOption.ResponseHeadersRead, wd.Token);
            }
            catch (OperationCanceledException e) when (wd.IsConnectTimeout(e))
            {
                // Not even a TCP connection (over http it would be the same): unreachable, like a refused connection.
                throw new RegistryException(
                    $"cannot reach registry {Registry}: no connection within {_options.ConnectTimeout.TotalSeconds:0} s " +
                    "(is the host up and the port right, or does a firewall drop the connection?)", inner: e);
            }
            catch (OperationCanceledException) when (wd.Expired)
            {
                if (scheme == "https" && Insecure) continue; // a plain-http server that ignores the TLS hello
                throw new TimeoutException($"no response from {Registry} within {wd.Timeout.TotalSeconds:0} s");
            }
            catch (HttpRequestException e) when (Retrier.IsRefused(e) || e.HttpRequestError == HttpRequestError.NameResolutionError)
            {
                if (scheme == "https" && Insecure) continue; // same answer over http; say it once below
                throw Unreachable(e);
            }
            catch (HttpRequestException e) when (scheme == "https" && e.HttpRequestError is HttpRequestError.SecureConnectionError
                                                     or HttpRequestError.InvalidResponse or HttpRequestError.ResponseEnded or HttpRequestError.HttpProtocolError)
            {
                if (Insecure) continue; // an insecure registry may speak plain http
                throw new RegistryException(
                    $"cannot connect to registry {Registry} over https ({Retrier.Describe(e)}); if it serves plain http or uses a " +
                    $"self-signed certificate, allow it with --insecure {Registry}", inner: e);
            }
            catch (HttpRequestException e) when (scheme == "http" && (Retrier.IsRefused(e) || e.HttpRequestError == HttpRequestError.NameResolutionError))
            {
                throw Unreachable(e);
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
                    var challenge = AuthChallenge.Preferred(AuthChallenge.Parse(Challenges(response)))
                        ?? throw new RegistryException($"registry {Registry} answered GET /v2/ with HTTP 401 but no authentication challenge it supports (Basic or Bearer)", HttpStatusCode.Unauthorized);
                    lock (_lock) _challenge = challenge;
                    _base = root;
                    return;
                }
                var (text, code) = await RegistryErrors.DescribeAsync(response, ct);
                if (RegistryErrors.IsTransient(response.StatusCode))
                    throw new TransientException($"{Registry}: {text}", RegistryErrors.RetryAfter(response), response.StatusCode);
                throw new RegistryException($"{Registry} does not serve the registry API (GET /v2/ gave {text})", response.StatusCode, code);
            }
        }
        throw new RegistryException($"cannot reach registry {Registry} (neither https nor http answered)");
    }

    private RegistryException Unreachable(HttpRequestException e) =>
        new($"cannot reach registry {Registry}: {(e.HttpRequestError == HttpRequestError.NameResolutionError ? "host not found" : Retrier.Describe(e))}", inner: e);

    /// <summary>
    /// Sends one request with the authorization its scopes need. A 401 refreshes the challenge and token and is retried
    /// once; 401/403 then become <see cref="RegistryAuthException"/>; 408/429/5xx become <see cref="TransientException"/>;
    /// a request without progress for the request timeout becomes <see cref="TimeoutException"/>. Any other response is
    /// returned for the caller to judge (dispose it).
    /// </summary>
    public async Task<HttpResponseMessage> SendAsync(HttpMethod method, Uri uri, IReadOnlyList<string> scopes, Watchdog wd,
        Func<HttpContent?>? content = null, Action<HttpRequestMessage>? configure = null)
    {
        var effectiveScopes = scopes;
        for (var authAttempt = 0; ; authAttempt++)
        {
            var request = new HttpRequestMessage(method, uri) { Content = content?.Invoke() };
            configure?.Invoke(request);
            request.Headers.Authorization = await AuthorizationAsync(effectiveScopes, wd);
            HttpResponseMessage response;
            try
            {
                response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, wd.Token);
            }
            catch (OperationCanceledException e) when (wd.IsConnectTimeout(e))
            {
                // The registry answered before (BaseAsync); a connection that cannot be made now is worth retrying.
                throw new TimeoutException($"{method} {Show(uri)} on {Registry}: no connection within {_options.ConnectTimeout.TotalSeconds:0} s", e);
            }
            catch (OperationCanceledException) when (wd.Expired)
            {
                throw new TimeoutException($"{method} {Show(uri)} on {Registry}: no progress for {wd.Timeout.TotalSeconds:0} s");
            }
            catch (HttpRequestException e) when (Retrier.IsRefused(e) || e.HttpRequestError == HttpRequestError.NameResolutionError)
            {
                throw Unreachable(e);
            }
            catch (HttpRequestException e) when (Inner<BentoException>(e) is { } ours)
            {
                // Our own verdict, found while sending the body: a blob shorter than its descriptor, or one whose bytes
                // do not hash to its digest (a corrupted layout blob, a weight file changed since it was hashed).
                throw ours;
            }
            catch (HttpRequestException e) when (!Retrier.IsTransient(e))
            {
                throw new RegistryException($"{method} {Show(uri)} on {Registry} failed: {Retrier.Describe(e)}", inner: e);
            }
            wd.Kick();
            if (response.StatusCode == HttpStatusCode.Unauthorized && authAttempt == 0 && UpdateChallenge(response, ref effectiveScopes))
            {
                response.Dispose();
                continue;
            }
            if (response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden)
            {
                using (response) throw await AuthFailureAsync(response, effectiveScopes, wd.Token);
            }
            if (RegistryErrors.IsTransient(response.StatusCode))
            {
                using (response)
                {
                    var (text, _) = await RegistryErrors.DescribeAsync(response, wd.Token);
                    throw new TransientException($"{method} {Show(uri)} on {Registry}: {text}", RegistryErrors.RetryAfter(response), response.StatusCode);
                }
            }
            return response;
        }
    }

    private static T? Inner<T>(Exception e) where T : Exception
    {
        for (var x = e.InnerException; x is not null; x = x.InnerException)
            if (x is T t) return t;
        return null;
    }

    /// <summary>A URL for messages: the path only (upload URLs carry long opaque state in the query).</summary>
    public static string Show(Uri uri) => uri.IsAbsoluteUri ? uri.AbsolutePath : uri.OriginalString.Split('?')[0];

    private static IEnumerable<string> Challenges(HttpResponseMessage response) =>
        response.Headers.TryGetValues("WWW-Authenticate", out var values) ? values : [];

    private bool UpdateChallenge(HttpResponseMessage response, ref IReadOnlyList<string> scopes)
    {
        var challenge = AuthChallenge.Preferred(AuthChallenge.Parse(Challenges(response)));
        if (challenge is null) return false;
        lock (_lock)
        {
            _challenge = challenge;
            if (challenge.IsBearer)
            {
                _tokens.Remove(TokenKey(challenge, scopes));
                // The registry may name the scope it wants (insufficient_scope): ask for it as well.
                if (challenge.Scope is { Length: > 0 } wanted)
                    scopes = scopes.Concat(wanted.Split(' ', StringSplitOptions.RemoveEmptyEntries)).Distinct().ToList();
            }
        }
        return true;
    }

    private CredentialLookup Credentials()
    {
        lock (_lock) return _credentials ??= _resolver.Resolve(Registry);
    }

    private async Task<AuthenticationHeaderValue?> AuthorizationAsync(IReadOnlyList<string> scopes, Watchdog wd)
    {
        AuthChallenge? challenge;
        lock (_lock) challenge = _challenge;
        if (challenge is null) return null;
        var credentials = Credentials();
        if (challenge.IsBasic)
        {
            var c = credentials.Credential;
            return c is null || c.IsIdentityToken ? null
                : new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{c.Username}:{c.Secret}")));
        }
        var token = await TokenAsync(challenge, scopes, credentials, wd);
        return new AuthenticationHeaderValue("Bearer", token);
    }

    private static string TokenKey(AuthChallenge challenge, IReadOnlyList<string> scopes) =>
        $"{challenge.Realm}|{challenge.Service}|{string.Join(' ', scopes.Order(StringComparer.Ordinal))}";

    private async Task<string> TokenAsync(AuthChallenge challenge, IReadOnlyList<string> scopes, CredentialLookup credentials, Watchdog wd)
    {
        var key = TokenKey(challenge, scopes);
        lock (_lock)
            if (_tokens.TryGetValue(key, out var cached) && cached.Expires > DateTimeOffset.UtcNow) return cached.Token;
        await _tokenGate.WaitAsync(wd.Token);
        try
        {
            lock (_lock)
                if (_tokens.TryGetValue(key, out var cached) && cached.Expires > DateTimeOffset.UtcNow) return cached.Token;
            var (token, lifetime) = await FetchTokenAsync(challenge, scopes, credentials, wd);
            // Renew a little early so a token never expires between being read here and being checked there.
            var margin = lifetime > TimeSpan.FromSeconds(30) ? TimeSpan.FromSeconds(10) : TimeSpan.Zero;
            lock (_lock) _tokens[key] = (token, DateTimeOffset.UtcNow + lifetime - margin);
            return token;
        }
        finally { _tokenGate.Release(); }
    }

    private async Task<(string Token, TimeSpan Lifetime)> FetchTokenAsync(AuthChallenge challenge, IReadOnlyList<string> scopes, CredentialLookup credentials, Watchdog wd)
    {
        if (!Uri.TryCreate(challenge.Realm, UriKind.Absolute, out var realm) || realm.Scheme is not ("https" or "http"))
            throw new RegistryException($"registry {Registry} asked for a bearer token from an invalid realm '{challenge.Realm}'");
        var credential = credentials.Credential;
        if (credential is not null && realm.Scheme != "https" && !Insecure)
            throw new RegistryAuthException(
                $"refusing to send {credentials.Describe()} for registry {Registry} to its token service {realm.Authority} over plain http " +
                $"(allow that only for a registry you trust with --insecure {Registry})");

        HttpResponseMessage response;
        if (credential is { IsIdentityToken: true })
        {
            response = await PostTokenAsync(realm, challenge, scopes, [("grant_type", "refresh_token"), ("refresh_token", credential.Secret)], wd);
        }
        else
        {
            var query = new StringBuilder();
            if (challenge.Service is { } service) query.Append("&service=").Append(Uri.EscapeDataString(service));
            foreach (var scope in scopes) query.Append("&scope=").Append(Uri.EscapeDataString(scope));
            var url = AppendQuery(realm, query.ToString().TrimStart('&'));
            var request = new HttpRequestMessage(HttpMethod.Get, url);
            if (credential is not null)
                request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{credential.Username}:{credential.Secret}")));
            response = await SendTokenRequestAsync(request, realm, wd);
            // OAuth2 servers that take only POST (password grant).
            if (credential is not null && response.StatusCode is HttpStatusCode.NotFound or HttpStatusCode.MethodNotAllowed)
            {
                response.Dispose();
                response = await PostTokenAsync(realm, challenge, scopes,
                    [("grant_type", "password"), ("username", credential.Username), ("password", credential.Secret)], wd);
            }
        }
        using (response)
        {
            if (response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden)
            {
                var (text, code) = await RegistryErrors.DescribeAsync(response, wd.Token);
                throw new RegistryAuthException(
                    $"authentication to registry {Registry} failed: its token service {realm.Authority} rejected {credentials.Describe()} ({text}); {LoginAdvice(credentials)}",
                    response.StatusCode, code);
            }
            if (!response.IsSuccessStatusCode)
            {
                var (text, code) = await RegistryErrors.DescribeAsync(response, wd.Token);
                if (RegistryErrors.IsTransient(response.StatusCode))
                    throw new TransientException($"token service {realm.Authority}: {text}", RegistryErrors.RetryAfter(response), response.StatusCode);
                throw new RegistryException($"the token service {realm.Authority} of registry {Registry} failed: {text}", response.StatusCode, code);
            }
            var body = await response.Content.ReadAsStringAsync(wd.Token);
            try
            {
                using var doc = JsonDocument.Parse(body);
                var root = doc.RootElement;
                var token = (root.TryGetProperty("token", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null)
                            ?? (root.TryGetProperty("access_token", out var a) && a.ValueKind == JsonValueKind.String ? a.GetString() : null);
                if (string.IsNullOrEmpty(token)) throw new JsonException("no token");
                var lifetime = root.TryGetProperty("expires_in", out var e) && e.TryGetInt32(out var seconds) && seconds > 0
                    ? TimeSpan.FromSeconds(seconds) : DefaultTokenLifetime;
                return (token, lifetime);
            }
            catch (JsonException)
            {
                throw new RegistryException($"the token service {realm.Authority} of registry {Registry} answered without a token");
            }
        }
    }

    private async Task<HttpResponseMessage> PostTokenAsync(Uri realm, AuthChallenge challenge, IReadOnlyList<string> scopes,
        (string, string)[] grant, Watchdog wd)
    {
        var form = new List<KeyValuePair<string, string>>();
        foreach (var (k, v) in grant) form.Add(new(k, v));
        form.Add(new("client_id", "bento"));
        if (challenge.Service is { } service) form.Add(new("service", service));
        if (scopes.Count > 0) form.Add(new("scope", string.Join(' ', scopes)));
        var request = new HttpRequestMessage(HttpMethod.Post, realm) { Content = new FormUrlEncodedContent(form) };
        return await SendTokenRequestAsync(request, realm, wd);
    }

    private async Task<HttpResponseMessage> SendTokenRequestAsync(HttpRequestMessage request, Uri realm, Watchdog wd)
    {
        try
        {
            if (request.Content is not null) Stats.Sent(request.Content.Headers.ContentLength ?? 0);
            var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, wd.Token);
            wd.Kick();
            return response;
        }
        catch (OperationCanceledException e) when (wd.IsConnectTimeout(e))
        {
            throw new TimeoutException($"token service {realm.Authority} of registry {Registry}: no connection within {_options.ConnectTimeout.TotalSeconds:0} s", e);
        }
        catch (OperationCanceledException) when (wd.Expired)
        {
            throw new TimeoutException($"token service {realm.Authority}: no response within {wd.Timeout.TotalSeconds:0} s");
        }
        catch (HttpRequestException e) when (Retrier.IsRefused(e) || e.HttpRequestError is HttpRequestError.NameResolutionError or HttpRequestError.SecureConnectionError)
        {
            throw new RegistryException($"cannot reach the token service {realm.Authority} of registry {Registry}: {Retrier.Describe(e)}", inner: e);
        }
    }

    private async Task<RegistryAuthException> AuthFailureAsync(HttpResponseMessage response, IReadOnlyList<string> scopes, CancellationToken ct)
    {
        var (text, code) = await RegistryErrors.DescribeAsync(response, ct);
        var credentials = Credentials();
        var what = string.Join(", ", scopes.Select(s => s.StartsWith("repository:", StringComparison.Ordinal) ? s["repository:".Length..] : s));
        string message;
        if (response.StatusCode == HttpStatusCode.Forbidden)
            message = $"registry {Registry} denied access{(what.Length > 0 ? $" to {what}" : "")} with {credentials.Describe()} ({text}); " +
                      $"log in as a user allowed to do that with 'bento login {Registry}'";
        else if (credentials.Credential is null)
            message = $"registry {Registry} requires authentication and {credentials.Describe()}; run 'bento login {Registry}' ({text})";
        else
            message = $"authentication to registry {Registry} failed with {credentials.Describe()} ({text}); {LoginAdvice(credentials)}";
        return new RegistryAuthException(message, response.StatusCode, code);
    }

    /// <summary>What to do about rejected credentials: log in again (bento's file is consulted before docker's).</summary>
    private string LoginAdvice(CredentialLookup credentials) => credentials.Credential is null
        ? $"run 'bento login {Registry}'"
        : $"check them, or run 'bento login {Registry}' to save working ones (bento's own credentials are used before docker's)";

    /// <summary>Checks credentials the way <c>bento login</c> needs: a request that needs them must succeed.</summary>
    public async Task VerifyCredentialsAsync(CancellationToken ct)
    {
        await BaseAsync(null, ct);
        AuthChallenge? challenge;
        lock (_lock) challenge = _challenge;
        if (challenge is null) return; // the registry lets anyone in
        await Retrier.ExecuteAsync($"logging in to {Registry}", async (_, token) =>
        {
            using var wd = NewWatchdog(token);
            if (challenge.IsBearer)
            {
                await FetchTokenAsync(challenge, [], Credentials(), wd);
                return;
            }
            using var response = await SendAsync(HttpMethod.Get, new Uri(_base!, "v2/"), [], wd);
            if (!response.IsSuccessStatusCode)
            {
                var (text, code) = await RegistryErrors.DescribeAsync(response, token);
                throw new RegistryException($"logging in to {Registry} failed: {text}", response.StatusCode, code);
            }
        }, null, ct);
    }

    public static Uri AppendQuery(Uri uri, string query)
    {
        if (query.Length == 0) return uri;
        var builder = new UriBuilder(uri);
        builder.Query = string.IsNullOrEmpty(builder.Query) || builder.Query == "?" ? query : builder.Query.TrimStart('?') + "&" + query;
        return builder.Uri;
    }

    public void Dispose()
    {
        _http.Dispose();
        _pingGate.Dispose();
        _tokenGate.Dispose();
    }
}
