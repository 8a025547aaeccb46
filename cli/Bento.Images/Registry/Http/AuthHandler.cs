using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Bento.Images.Registry.Auth;

namespace Bento.Images.Registry.Http;

/// <summary>
/// Adds the authorization a registry asked for (as go-containerregistry's basic and bearer transports do): Basic with
/// the resolved credentials, or a bearer token from the challenge's realm for the request's scopes, cached per set of
/// scopes until it expires. A 401 refreshes the challenge and the token and the request is sent once more; a 401 or
/// 403 after that is a <see cref="RegistryAuthException"/> saying where the credentials came from (never what they are).
/// Token requests go through the inner handlers (counted like any request).
/// </summary>
internal sealed class AuthHandler(RegistryOptions options, TransferStats stats, CredentialResolver resolver, CredentialLookup? fixedCredentials = null)
    : DelegatingHandler
{
    private static readonly TimeSpan DefaultTokenLifetime = TimeSpan.FromSeconds(60);
    private readonly ConcurrentDictionary<string, RegistryAuthState> _states = new(StringComparer.OrdinalIgnoreCase);

    public RegistryAuthState State(string registry) =>
        _states.GetOrAdd(registry, r => new RegistryAuthState(r, () => fixedCredentials ?? resolver.Resolve(r)));

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken ct)
    {
        if (request.Options.TryGetValue(RegistryRequest.Ping, out var ping) && ping
            || !request.Options.TryGetValue(RegistryRequest.Registry, out var registry))
            return await base.SendAsync(request, ct);
        var state = State(registry);
        var scopes = request.Options.TryGetValue(RegistryRequest.Scopes, out var s) ? s : [];
        for (var attempt = 0; ; attempt++)
        {
            request.Headers.Authorization = await AuthorizationAsync(state, scopes, ct);
            var response = await base.SendAsync(request, ct);
            if (response.StatusCode == HttpStatusCode.Unauthorized && attempt == 0 && state.UpdateChallenge(Challenges(response), ref scopes))
            {
                response.Dispose();
                continue;
            }
            if (response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden)
            {
                using (response) throw await AuthFailureAsync(state, response, scopes, ct);
            }
            return response;
        }
    }

    public static IEnumerable<string> Challenges(HttpResponseMessage response) =>
        response.Headers.TryGetValues("WWW-Authenticate", out var values) ? values : [];

    private async Task<AuthenticationHeaderValue?> AuthorizationAsync(RegistryAuthState state, IReadOnlyList<string> scopes, CancellationToken ct)
    {
        var challenge = state.Challenge;
        if (challenge is null) return null;
        var credentials = state.Credentials();
        if (challenge.IsBasic)
        {
            var c = credentials.Credential;
            return c is null || c.IsIdentityToken ? null : new AuthenticationHeaderValue("Basic", Basic(c.Username, c.Secret));
        }
        return new AuthenticationHeaderValue("Bearer", await TokenAsync(state, challenge, scopes, credentials, ct));
    }

    private static string Basic(string user, string secret) => Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{secret}"));

    private async Task<string> TokenAsync(RegistryAuthState state, AuthChallenge challenge, IReadOnlyList<string> scopes, CredentialLookup credentials, CancellationToken ct)
    {
        var key = RegistryAuthState.TokenKey(challenge, scopes);
        if (state.CachedToken(key) is { } cached) return cached;
        await state.TokenGate.WaitAsync(ct);
        try
        {
            if (state.CachedToken(key) is { } again) return again;
            var (token, lifetime) = await FetchTokenAsync(state, challenge, scopes, credentials, ct);
            // Renew a little early so a token never expires between being read here and being checked there.
            var margin = lifetime > TimeSpan.FromSeconds(30) ? TimeSpan.FromSeconds(10) : TimeSpan.Zero;
            state.RememberToken(key, token, DateTimeOffset.UtcNow + lifetime - margin);
            return token;
        }
        finally { state.TokenGate.Release(); }
    }

    /// <summary>Asks the challenge's realm for a token (GET with Basic, or the OAuth2 POST grants); also what <c>bento login</c> checks.</summary>
    public async Task<(string Token, TimeSpan Lifetime)> FetchTokenAsync(RegistryAuthState state, AuthChallenge challenge, IReadOnlyList<string> scopes,
        CredentialLookup credentials, CancellationToken ct)
    {
        var registry = state.Registry;
        if (!Uri.TryCreate(challenge.Realm, UriKind.Absolute, out var realm) || realm.Scheme is not ("https" or "http"))
            throw new RegistryException($"registry {registry} asked for a bearer token from an invalid realm '{challenge.Realm}'");
        var credential = credentials.Credential;
        if (credential is not null && realm.Scheme != "https" && !options.IsInsecure(registry))
            throw new RegistryAuthException(
                $"refusing to send {credentials.Describe()} for registry {registry} to its token service {realm.Authority} over plain http " +
                $"(allow that only for a registry you trust with --insecure {registry})");

        HttpResponseMessage response;
        if (credential is { IsIdentityToken: true })
        {
            response = await PostTokenAsync(registry, realm, challenge, scopes, [("grant_type", "refresh_token"), ("refresh_token", credential.Secret)], ct);
        }
        else
        {
            var query = new StringBuilder();
            if (challenge.Service is { } service) query.Append("&service=").Append(Uri.EscapeDataString(service));
            foreach (var scope in scopes) query.Append("&scope=").Append(Uri.EscapeDataString(scope));
            var request = new HttpRequestMessage(HttpMethod.Get, RegistryTransport.AppendQuery(realm, query.ToString().TrimStart('&')));
            if (credential is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Basic(credential.Username, credential.Secret));
            response = await SendTokenRequestAsync(registry, request, realm, ct);
            // OAuth2 servers that take only POST (password grant).
            if (credential is not null && response.StatusCode is HttpStatusCode.NotFound or HttpStatusCode.MethodNotAllowed)
            {
                response.Dispose();
                response = await PostTokenAsync(registry, realm, challenge, scopes,
                    [("grant_type", "password"), ("username", credential.Username), ("password", credential.Secret)], ct);
            }
        }
        using (response)
        {
            if (response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden)
            {
                var (text, code) = await RegistryErrors.DescribeAsync(response, ct);
                throw new RegistryAuthException(
                    $"authentication to registry {registry} failed: its token service {realm.Authority} rejected {credentials.Describe()} ({text}); {LoginAdvice(registry, credentials)}",
                    response.StatusCode, code);
            }
            if (!response.IsSuccessStatusCode)
            {
                var (text, code) = await RegistryErrors.DescribeAsync(response, ct);
                if (RegistryErrors.IsTransient(response.StatusCode))
                    throw new TransientException($"token service {realm.Authority}: {text}", RegistryErrors.RetryAfter(response), response.StatusCode);
                throw new RegistryException($"the token service {realm.Authority} of registry {registry} failed: {text}", response.StatusCode, code);
            }
            var body = await response.Content.ReadAsStringAsync(ct);
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
                throw new RegistryException($"the token service {realm.Authority} of registry {registry} answered without a token");
            }
        }
    }

    private Task<HttpResponseMessage> PostTokenAsync(string registry, Uri realm, AuthChallenge challenge, IReadOnlyList<string> scopes,
        (string, string)[] grant, CancellationToken ct)
    {
        var form = new List<KeyValuePair<string, string>>();
        foreach (var (k, v) in grant) form.Add(new(k, v));
        form.Add(new("client_id", "bento"));
        if (challenge.Service is { } service) form.Add(new("service", service));
        if (scopes.Count > 0) form.Add(new("scope", string.Join(' ', scopes)));
        return SendTokenRequestAsync(registry, new HttpRequestMessage(HttpMethod.Post, realm) { Content = new FormUrlEncodedContent(form) }, realm, ct);
    }

    private async Task<HttpResponseMessage> SendTokenRequestAsync(string registry, HttpRequestMessage request, Uri realm, CancellationToken ct)
    {
        try
        {
            // Sent below the HttpClient, so its default headers are not added: name ourselves as every request does.
            request.Headers.TryAddWithoutValidation("User-Agent", options.UserAgent);
            if (request.Content is not null) stats.Sent(request.Content.Headers.ContentLength ?? 0);
            return await base.SendAsync(request, ct);
        }
        catch (OperationCanceledException e) when (!ct.IsCancellationRequested && e.InnerException is TimeoutException)
        {
            throw new TimeoutException($"token service {realm.Authority} of registry {registry}: no connection within {options.ConnectTimeout.TotalSeconds:0} s", e);
        }
        catch (HttpRequestException e) when (Retrier.IsRefused(e) || e.HttpRequestError is HttpRequestError.NameResolutionError or HttpRequestError.SecureConnectionError)
        {
            throw new RegistryException($"cannot reach the token service {realm.Authority} of registry {registry}: {Retrier.Describe(e)}", inner: e);
        }
    }

    private static async Task<RegistryAuthException> AuthFailureAsync(RegistryAuthState state, HttpResponseMessage response, IReadOnlyList<string> scopes, CancellationToken ct)
    {
        var registry = state.Registry;
        var (text, code) = await RegistryErrors.DescribeAsync(response, ct);
        var credentials = state.Credentials();
        var what = string.Join(", ", scopes.Select(s => s.StartsWith("repository:", StringComparison.Ordinal) ? s["repository:".Length..] : s));
        string message;
        if (response.StatusCode == HttpStatusCode.Forbidden)
            message = $"registry {registry} denied access{(what.Length > 0 ? $" to {what}" : "")} with {credentials.Describe()} ({text}); " +
                      $"log in as a user allowed to do that with 'bento login {registry}'";
        else if (credentials.Credential is null)
            message = $"registry {registry} requires authentication and {credentials.Describe()}; run 'bento login {registry}' ({text})";
        else
            message = $"authentication to registry {registry} failed with {credentials.Describe()} ({text}); {LoginAdvice(registry, credentials)}";
        return new RegistryAuthException(message, response.StatusCode, code);
    }

    /// <summary>What to do about rejected credentials: log in again (bento's file is consulted before docker's).</summary>
    private static string LoginAdvice(string registry, CredentialLookup credentials) => credentials.Credential is null
        ? $"run 'bento login {registry}'"
        : $"check them, or run 'bento login {registry}' to save working ones (bento's own credentials are used before docker's)";
}

/// <summary>One registry's authentication: the challenge it sent, the credentials for it, and its tokens by scopes.</summary>
internal sealed class RegistryAuthState(string registry, Func<CredentialLookup> resolve)
{
    private readonly object _lock = new();
    private readonly Dictionary<string, (string Token, DateTimeOffset Expires)> _tokens = new();
    private AuthChallenge? _challenge;
    private CredentialLookup? _credentials;

    public string Registry { get; } = registry;
    public SemaphoreSlim TokenGate { get; } = new(1, 1);

    public AuthChallenge? Challenge
    {
        get { lock (_lock) return _challenge; }
        set { lock (_lock) _challenge = value; }
    }

    public CredentialLookup Credentials()
    {
        lock (_lock) return _credentials ??= resolve();
    }

    public static string TokenKey(AuthChallenge challenge, IReadOnlyList<string> scopes) =>
        $"{challenge.Realm}|{challenge.Service}|{string.Join(' ', scopes.Order(StringComparer.Ordinal))}";

    public string? CachedToken(string key)
    {
        lock (_lock) return _tokens.TryGetValue(key, out var cached) && cached.Expires > DateTimeOffset.UtcNow ? cached.Token : null;
    }

    public void RememberToken(string key, string token, DateTimeOffset expires)
    {
        lock (_lock) _tokens[key] = (token, expires);
    }

    /// <summary>Takes a 401's challenge; for a bearer challenge, drops the token and adds any scope the registry named.</summary>
    public bool UpdateChallenge(IEnumerable<string> headers, ref IReadOnlyList<string> scopes)
    {
        var challenge = AuthChallenge.Preferred(AuthChallenge.Parse(headers));
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
}
