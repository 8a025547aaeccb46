namespace Bento.Images.Registry.Http;

/// <summary>The innermost handler: counts every request that goes out (token requests and redirects' first hop included).</summary>
internal sealed class CountingHandler(TransferStats stats, HttpMessageHandler inner) : DelegatingHandler(inner)
{
    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken ct)
    {
        stats.Request();
        return base.SendAsync(request, ct);
    }
}
