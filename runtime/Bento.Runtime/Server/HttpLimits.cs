using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Bento.Runtime.Server;

/// <summary>
/// Kestrel's bounds on what one client may send or hold, besides the body (max_request_bytes, a setting): every one
/// explicit here, so that what the server tolerates is written down and tested rather than inherited. A client that
/// sends more is answered 431 (headers) or 414 (request line); one that trickles its headers (slowloris) is cut off.
/// </summary>
internal static class HttpLimits
{
    /// <summary>All request headers together (431 above); OpenAI clients send well under 2 KiB.</summary>
    public const int MaxRequestHeadersTotalSize = 32 * 1024;

    public const int MaxRequestHeaderCount = 100;

    /// <summary>The request line (414 above): our paths are short and take no query strings.</summary>
    public const int MaxRequestLineSize = 8 * 1024;

    /// <summary>
    /// From the first byte of a request to the end of its headers. A slowloris client keeps a connection by sending a
    /// header byte now and then; it is dropped after this, whatever it still sends.
    /// </summary>
    public static readonly TimeSpan RequestHeadersTimeout = TimeSpan.FromSeconds(10);

    /// <summary>An idle keep-alive connection is closed after this (longer than common load balancers' 60 s idle timeout).</summary>
    public static readonly TimeSpan KeepAliveTimeout = TimeSpan.FromSeconds(75);

    /// <summary>A body must arrive at 240 bytes/s or more after a 5 s grace (a slowloris body is cut off too).</summary>
    public static readonly MinDataRate MinRequestBodyDataRate = new(bytesPerSecond: 240, gracePeriod: TimeSpan.FromSeconds(5));

    public static void Apply(KestrelServerLimits limits, long maxRequestBytes)
    {
        // Kestrel refuses a bigger body (413) while reading it, so no request can make the server buffer more.
        limits.MaxRequestBodySize = maxRequestBytes;
        limits.MaxRequestHeadersTotalSize = MaxRequestHeadersTotalSize;
        limits.MaxRequestHeaderCount = MaxRequestHeaderCount;
        limits.MaxRequestLineSize = MaxRequestLineSize;
        limits.RequestHeadersTimeout = RequestHeadersTimeout;
        limits.KeepAliveTimeout = KeepAliveTimeout;
        limits.MinRequestBodyDataRate = MinRequestBodyDataRate;
    }
}
