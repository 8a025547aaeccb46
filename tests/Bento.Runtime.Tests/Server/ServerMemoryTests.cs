using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Bento.Runtime.Server;

namespace Bento.Runtime.Tests.Server;

/// <summary>
/// "Memory stays flat": the runtime process (started by ./bento serve, measured from /proc) answers six concurrent
/// multi-megabyte prompts, round after round, without growing for good. It used to keep every round: 200 MiB became
/// 1 GiB after four rounds of six 7 MiB prompts (and 8 GB with 19 MB prompts before they were refused untokenized).
/// </summary>
[Trait("Category", "Slow")]
public class ServerMemoryTests
{
    private const long MiB = 1 << 20;

    private static long Rss(int pid)
    {
        var line = File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
    }

    [Fact]
    public async Task Six_concurrent_multi_megabyte_prompts_do_not_grow_the_server_for_good()
    {
        var port = FreeTcpPort.Pick();
        var baseUri = new Uri($"http://127.0.0.1:{port}");
        await using var server = await LauncherServer.StartAsync(["{tag}", "--host", "127.0.0.1", "--port", port.ToString()]);
        await server.WaitReadyAsync(baseUri);
        var runtime = server.ProcessesOfThisStore().Single(pid => File.ReadAllText($"/proc/{pid}/cmdline").Contains("bento-runtime", StringComparison.Ordinal));

        // 7 MiB of prompt: under max_request_bytes (8 MiB), so each is read, parsed and refused for its length.
        var body = Encoding.UTF8.GetBytes(new JsonObject
        {
            ["model"] = "tiny-llama", ["prompt"] = string.Concat(Enumerable.Repeat("ab ", (7 << 20) / 3)), ["max_tokens"] = 1,
        }.ToJsonString());
        async Task RoundAsync()
        {
            var answers = await Task.WhenAll(Enumerable.Range(0, 6).Select(async _ =>
            {
                using var content = new ByteArrayContent(body);
                content.Headers.ContentType = new("application/json");
                using var response = await server.Http.PostAsync(new Uri(baseUri, "/v1/completions"), content);
                return (response.StatusCode, Text: await response.Content.ReadAsStringAsync());
            }));
            Assert.All(answers, a =>
            {
                Assert.Equal(HttpStatusCode.BadRequest, a.StatusCode);
                Assert.Contains("maximum context length", a.Text);
            });
        }
        async Task<long> SettledRssAsync()
        {
            await Task.Delay(LargeRequestMemory.Quiet + TimeSpan.FromSeconds(2));
            return Rss(runtime);
        }

        // One round first: code paths compiled, thread pool grown, buffers sized. That is paid once.
        await RoundAsync();
        var baseline = await SettledRssAsync();
        var peak = baseline;
        using var stop = new CancellationTokenSource();
        var sampler = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                peak = Math.Max(peak, Rss(runtime));
                await Task.Delay(20);
            }
        });
        for (var round = 0; round < 4; round++) await RoundAsync();
        await stop.CancelAsync();
        await sampler;
        var after = await SettledRssAsync();

        Assert.True(after - baseline < 128 * MiB,
            $"the runtime grew from {baseline / MiB} MiB to {after / MiB} MiB after four rounds (peak {peak / MiB} MiB) and kept it");
        Assert.True(peak - baseline < 768 * MiB, $"six concurrent 7 MiB prompts took the runtime from {baseline / MiB} MiB to {peak / MiB} MiB");
        using var health = await server.Http.GetAsync(new Uri(baseUri, "/health"));
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
    }
}
