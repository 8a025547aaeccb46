namespace Bento.Images.Registry.Http;

/// <summary>
/// What the handlers around the registry HttpClient need to know about one request, carried in its
/// <see cref="HttpRequestMessage.Options"/>: which registry it is for and the scopes its token needs
/// (<see cref="AuthHandler"/>), and how <see cref="RetryHandler"/> treats it.
/// </summary>
internal static class RegistryRequest
{
    public static readonly HttpRequestOptionsKey<string> Registry = new("bento.registry");
    public static readonly HttpRequestOptionsKey<IReadOnlyList<string>> Scopes = new("bento.scopes");

    /// <summary>Set on requests whose body can be sent again as it is: the retry handler resends them itself.</summary>
    public static readonly HttpRequestOptionsKey<RetryPlan> Retry = new("bento.retry");

    /// <summary>The caller's inactivity watchdog, for a request it retries itself (chunks, blob bodies).</summary>
    public static readonly HttpRequestOptionsKey<Watchdog> Watchdog = new("bento.watchdog");

    /// <summary>The API version check (<c>GET /v2/</c>): no credentials, no translation; the caller judges the answer.</summary>
    public static readonly HttpRequestOptionsKey<bool> Ping = new("bento.ping");

    public static HttpRequestMessage Create(HttpMethod method, Uri uri, string registry, IReadOnlyList<string> scopes)
    {
        var request = new HttpRequestMessage(method, uri);
        request.Options.Set(Registry, registry);
        request.Options.Set(Scopes, scopes);
        return request;
    }

    /// <summary>A URL for messages: the path only (upload URLs carry long opaque state in the query).</summary>
    public static string Show(Uri uri) => uri.IsAbsoluteUri ? uri.AbsolutePath : uri.OriginalString.Split('?')[0];
}

/// <summary>A request the retry handler may send again: the operation's name for messages, and who hears about retries.</summary>
internal sealed record RetryPlan(string Operation, Action<string, int, TimeSpan, string>? OnRetry);
