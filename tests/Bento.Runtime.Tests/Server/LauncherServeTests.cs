using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;

namespace Bento.Runtime.Tests.Server;

/// <summary>
/// `bento serve` as users and supervisors run it, through the ./bento launcher: options mean the same before and after
/// the tag (they were once dropped when they came first, which served 0.0.0.0:3000 with no API key), and a SIGTERM to
/// the launcher's pid drains the runtime and leaves no process behind.
/// </summary>
[Trait("Category", "Slow")]
public class LauncherServeTests
{
    private static Uri Base(int port) => new($"http://127.0.0.1:{port}");

    private static async Task<JsonNode> HealthAsync(LauncherServer server, int port) =>
        JsonNode.Parse(await server.Http.GetStringAsync(new Uri(Base(port), "/health")))!;

    [Theory]
    [InlineData("before the tag")]
    [InlineData("after the tag")]
    public async Task Host_port_api_key_and_engine_flags_are_honoured(string where)
    {
        var port = FreeTcpPort.Pick();
        string[] options = ["--host", "127.0.0.1", "--port", port.ToString(), "--api-key", "k-123", "--max-num-seqs", "3", "--enforce-eager"];
        string[] arguments = where == "before the tag" ? [.. options, "{tag}"] : ["{tag}", .. options];
        await using var server = await LauncherServer.StartAsync(arguments);
        await server.WaitReadyAsync(Base(port));

        var settings = (await HealthAsync(server, port))["settings"]!;
        Assert.Equal("127.0.0.1", settings["host"]!["value"]!.GetValue<string>());
        Assert.Equal("cli", settings["host"]!["source"]!.GetValue<string>());
        Assert.Equal(port, settings["port"]!["value"]!.GetValue<int>());
        Assert.Equal(3, settings["max_num_seqs"]!["value"]!.GetValue<int>());
        Assert.True(settings["enforce_eager"]!["value"]!.GetValue<bool>());
        Assert.True(settings["api_key"]!["set"]!.GetValue<bool>());
        Assert.Equal(HttpStatusCode.Unauthorized, (await server.Http.GetAsync(new Uri(Base(port), "/v1/models"))).StatusCode);
        using var authorized = new HttpRequestMessage(HttpMethod.Get, new Uri(Base(port), "/v1/models"));
        authorized.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "k-123");
        Assert.Equal(HttpStatusCode.OK, (await server.Http.SendAsync(authorized)).StatusCode);
        Assert.DoesNotContain("k-123", server.Output);
    }

    /// <summary>The open-server hole on its own: a key file given before the tag must lock /v1.</summary>
    [Fact]
    public async Task An_api_key_file_before_the_tag_locks_v1()
    {
        using var dir = new TempDirectory();
        var keyFile = Path.Combine(dir.Path, "key");
        await File.WriteAllTextAsync(keyFile, "from-a-file\n");
        var port = FreeTcpPort.Pick();
        await using var server = await LauncherServer.StartAsync(["--api-key-file", keyFile, "--port", port.ToString(), "--host", "127.0.0.1", "{tag}"]);
        await server.WaitReadyAsync(Base(port));

        var apiKey = (await HealthAsync(server, port))["settings"]!["api_key"]!;
        Assert.True(apiKey["set"]!.GetValue<bool>());
        Assert.Equal("--api-key-file", apiKey["flag"]!.GetValue<string>());
        using var wrong = new HttpRequestMessage(HttpMethod.Get, new Uri(Base(port), "/v1/models"));
        wrong.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "from-a-fil");
        Assert.Equal(HttpStatusCode.Unauthorized, (await server.Http.SendAsync(wrong)).StatusCode);
        using var right = new HttpRequestMessage(HttpMethod.Get, new Uri(Base(port), "/v1/models"));
        right.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "from-a-file");
        Assert.Equal(HttpStatusCode.OK, (await server.Http.SendAsync(right)).StatusCode);
        Assert.DoesNotContain("from-a-file", server.Output);
    }

    /// <summary>enforce_eager's third value through <c>bento serve</c>: <c>--enforce-eager=auto</c> before or after the
    /// tag reaches the runtime, and a bare <c>--enforce-eager</c> before the tag still does not swallow the tag.</summary>
    [Theory]
    [InlineData("before the tag")]
    [InlineData("after the tag")]
    public async Task Enforce_eager_auto_is_passed_on_by_the_launcher(string where)
    {
        var port = FreeTcpPort.Pick();
        string[] options = ["--enforce-eager=auto", "--port", port.ToString(), "--host", "127.0.0.1"];
        await using var server = await LauncherServer.StartAsync(where == "before the tag" ? [.. options, "{tag}"] : ["{tag}", .. options]);
        await server.WaitReadyAsync(Base(port));
        var engine = (await HealthAsync(server, port))["engine"]!;
        Assert.Equal("auto", engine["enforce_eager"]!["value"]!.GetValue<string>());
        Assert.Equal("cli", engine["enforce_eager"]!["source"]!.GetValue<string>());
        Assert.StartsWith("unavailable on CPU", engine["cuda_graphs"]!["state"]!.GetValue<string>());
    }

    [Fact]
    public async Task Sigterm_to_the_launcher_drains_in_flight_requests_exits_0_and_leaves_nothing_running()
    {
        var port = FreeTcpPort.Pick();
        await using var server = await LauncherServer.StartAsync(["{tag}", "--port", port.ToString(), "--host", "127.0.0.1"]);
        await server.WaitReadyAsync(Base(port));

        // Several long streams, so decoding is certainly still going on when the signal arrives.
        const int streams = 4, maxTokens = 400;
        var signalled = new TaskCompletionSource();
        var chunksAfterSignal = 0;
        var runs = Enumerable.Range(0, streams).Select(i => Task.Run(async () =>
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(Base(port), "/v1/completions"))
            {
                Content = new StringContent($$$"""{"model":"tiny-llama","prompt":"{{{i}}} 1 2","max_tokens":{{{maxTokens}}},"ignore_eos":true,"stream":true,"stream_options":{"include_usage":true}}""", Encoding.UTF8, "application/json"),
            };
            using var response = await server.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
            var lines = new List<string>();
            while (await reader.ReadLineAsync() is { } line)
            {
                if (line.Length == 0) continue;
                lines.Add(line);
                if (lines.Count == 2 && i == 0) signalled.TrySetResult();
                if (signalled.Task.IsCompleted && line.StartsWith("data: {", StringComparison.Ordinal)) Interlocked.Increment(ref chunksAfterSignal);
            }
            return lines;
        })).ToList();

        await signalled.Task.WaitAsync(TimeSpan.FromMinutes(1));
        server.Signal("TERM");
        var results = await Task.WhenAll(runs).WaitAsync(TimeSpan.FromMinutes(2));

        Assert.True(chunksAfterSignal > 0, "no chunk arrived after SIGTERM; the streams were over before the test could check draining");
        foreach (var lines in results)
        {
            Assert.Equal("data: [DONE]", lines[^1]);
            var usage = JsonNode.Parse(lines[^2]["data: ".Length..])!["usage"]!;
            Assert.Equal(maxTokens, usage["completion_tokens"]!.GetValue<int>());
        }
        Assert.Equal(0, await server.WaitForExitAsync(TimeSpan.FromMinutes(1)));
        Assert.Empty(server.ProcessesOfThisStore());
        using var listener = new TcpListener(IPAddress.Loopback, port);
        listener.Start(); // the port is free again
        Assert.Contains("stopping: no new requests", server.Output);
    }

    [Fact]
    public async Task A_launcher_killed_with_sigkill_takes_the_runtime_down_with_it()
    {
        var port = FreeTcpPort.Pick();
        await using var server = await LauncherServer.StartAsync(["{tag}", "--port", port.ToString(), "--host", "127.0.0.1"]);
        await server.WaitReadyAsync(Base(port));
        Assert.NotEmpty(server.ProcessesOfThisStore());

        server.Signal("KILL");
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (server.ProcessesOfThisStore().Count > 0 && DateTime.UtcNow < deadline) await Task.Delay(200);
        Assert.Empty(server.ProcessesOfThisStore());
    }
}
