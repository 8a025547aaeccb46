using System.Net.Sockets;
using Bento.Runtime.Settings;

namespace Bento.Runtime.Server;

/// <summary>
/// <c>bento-runtime --healthcheck</c>: the image's HEALTHCHECK. It resolves host and port exactly as the server does
/// (same bento, environment and flags), sends <c>GET /health</c> and exits 0 on 200, 1 otherwise. Because it is the
/// runtime itself, it works on any base image, including distroless and chiseled ones that have no shell, curl or wget.
/// It loads no model and no native library, so a probe costs one short-lived process.
/// </summary>
public static class HealthcheckProbe
{
    public const string Flag = Bento.Core.Serving.ImageContract.HealthcheckFlag;

    /// <summary>Docker kills a probe after its own timeout; ours is shorter so the reason reaches the health log.</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(4);

    public static async Task<int> RunAsync(EngineSettings settings, TextWriter output)
    {
        var host = ProbeHost(settings.Host.Value);
        var url = new UriBuilder("http", host, settings.Port.Value, Bento.Core.Serving.ImageContract.HealthPath).Uri;
        using var http = new HttpClient { Timeout = Timeout };
        try
        {
            using var response = await http.GetAsync(url);
            var body = await response.Content.ReadAsStringAsync();
            var status = (int)response.StatusCode;
            await output.WriteLineAsync($"GET {url}: {status} {Shorten(body)}");
            return status == 200 ? 0 : 1;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or SocketException)
        {
            await output.WriteLineAsync($"GET {url}: {(e is TaskCanceledException ? $"no answer within {Timeout.TotalSeconds:0} s" : e.Message)}");
            return 1;
        }
    }

    /// <summary>A wildcard listen address is probed on loopback; a specific address is probed where it listens.</summary>
    internal static string ProbeHost(string listenHost) => listenHost.Trim('[', ']') switch
    {
        "" or "0.0.0.0" or "*" or "+" => "127.0.0.1",
        "::" => "[::1]",
        var h when h.Contains(':') => $"[{h}]",
        var h => h,
    };

    private static string Shorten(string body)
    {
        body = body.ReplaceLineEndings(" ");
        return body.Length <= 300 ? body : body[..300] + "…";
    }
}
