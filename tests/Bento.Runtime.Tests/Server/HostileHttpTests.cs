using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Bento.Runtime.Server;

namespace Bento.Runtime.Tests.Server;

/// <summary>
/// Kestrel's limits on what a client may send besides the body (<see cref="HttpLimits"/>): oversized headers and
/// request lines are refused with their status codes, and a client trickling its headers (slowloris) is cut off after
/// the headers timeout. The server keeps serving throughout.
/// </summary>
[Collection("server"), Trait("Category", "Slow")]
public class HostileHttpTests(SharedServer shared)
{
    private RunningServer Server => shared.Server;

    private async Task<string> RawAsync(string request)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, Server.Port);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request));
        var buffer = new byte[4096];
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var read = await stream.ReadAsync(buffer, cts.Token);
        return Encoding.ASCII.GetString(buffer, 0, read);
    }

    private async Task AssertStillServesAsync()
    {
        using var response = await Server.Http.GetAsync(new Uri(Server.BaseUri, "/health"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task Headers_over_the_limit_are_431()
    {
        var big = new string('a', HttpLimits.MaxRequestHeadersTotalSize + 1024);
        Assert.StartsWith("HTTP/1.1 431", await RawAsync($"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\n\r\n"));
        var many = string.Concat(Enumerable.Range(0, HttpLimits.MaxRequestHeaderCount + 1).Select(i => $"X-{i}: v\r\n"));
        Assert.StartsWith("HTTP/1.1 431", await RawAsync($"GET /health HTTP/1.1\r\nHost: x\r\n{many}\r\n"));
        await AssertStillServesAsync();
    }

    [Fact]
    public async Task A_request_line_over_the_limit_is_414()
    {
        Assert.StartsWith("HTTP/1.1 414", await RawAsync($"GET /health?{new string('q', HttpLimits.MaxRequestLineSize)} HTTP/1.1\r\nHost: x\r\n\r\n"));
        await AssertStillServesAsync();
    }

    /// <summary>
    /// A slowloris client sends a header byte every half second, forever: it is disconnected once the headers timeout
    /// has passed (Kestrel checks once a second), not kept for as long as it keeps sending.
    /// </summary>
    [Fact]
    public async Task A_client_trickling_its_headers_is_cut_off_after_the_headers_timeout()
    {
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, Server.Port);
        var stream = client.GetStream();
        var clock = Stopwatch.StartNew();
        await stream.WriteAsync("GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: "u8.ToArray());
        var answer = new byte[1024];
        var reading = stream.ReadAsync(answer).AsTask();
        var cutOff = TimeSpan.Zero;
        while (clock.Elapsed < HttpLimits.RequestHeadersTimeout + TimeSpan.FromSeconds(10))
        {
            if (await Task.WhenAny(reading, Task.Delay(500)) == reading) { cutOff = clock.Elapsed; break; }
            try { await stream.WriteAsync("a"u8.ToArray()); }
            catch (IOException) { cutOff = clock.Elapsed; break; }
        }
        Assert.True(cutOff > TimeSpan.Zero, $"the connection was still open after {clock.Elapsed}");
        Assert.InRange(cutOff, HttpLimits.RequestHeadersTimeout - TimeSpan.FromSeconds(1), HttpLimits.RequestHeadersTimeout + TimeSpan.FromSeconds(5));
        if (reading.IsCompletedSuccessfully && reading.Result > 0)
            Assert.StartsWith("HTTP/1.1 408", Encoding.ASCII.GetString(answer, 0, reading.Result));
        await AssertStillServesAsync();
    }
}
