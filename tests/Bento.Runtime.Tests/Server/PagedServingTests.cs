using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;

namespace Bento.Runtime.Tests.Server;

/// <summary>The paged KV cache through the real server: prefix caching, n choices, disconnects, memory pressure and
/// bursts, observed the way an operator sees them (/metrics, /health, status codes).</summary>
[Trait("Category", "Slow")]
public sealed class PagedServingTests : IAsyncLifetime
{
    private RunningServer _server = null!;

    // Its own server: the metrics deltas below must not see other tests' requests.
    public async Task InitializeAsync() => _server = await RunningServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private static readonly string SystemPrompt = string.Concat(Enumerable.Range(0, 6).Select(i => $"Rule {i}: answer briefly and politely. "));

    private static async Task<(HttpStatusCode Status, JsonNode? Body)> PostAsync(RunningServer server, string path, string json)
    {
        using var response = await server.Http.PostAsync(new Uri(server.BaseUri, path), new StringContent(json, Encoding.UTF8, "application/json"));
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, text.Length == 0 ? null : JsonNode.Parse(text));
    }

    private static async Task<Dictionary<string, double>> MetricsAsync(RunningServer server)
    {
        var text = await server.Http.GetStringAsync(new Uri(server.BaseUri, "/metrics"));
        return text.Split('\n').Where(l => l.StartsWith("vllm:", StringComparison.Ordinal) && l.Contains("model_name=\"tiny-llama\"") && !l.Contains("_bucket"))
            .GroupBy(l => l[..l.IndexOf('{')])
            .ToDictionary(g => g.Key, g => g.Sum(l => double.Parse(l[(l.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture)));
    }

    private static async Task<int> PromptTokensAsync(RunningServer server, string json)
    {
        var (status, body) = await PostAsync(server, "/tokenize", json);
        Assert.Equal(HttpStatusCode.OK, status);
        return body!["count"]!.GetValue<int>();
    }

    [Fact]
    public async Task A_shared_system_prompt_is_computed_once_and_counted_as_prefix_cache_hits()
    {
        string Chat(string question) => new JsonObject
        {
            ["model"] = "tiny-llama", ["max_tokens"] = 6, ["temperature"] = 0, ["ignore_eos"] = true,
            ["messages"] = new JsonArray(new JsonObject { ["role"] = "system", ["content"] = SystemPrompt }, new JsonObject { ["role"] = "user", ["content"] = question }),
        }.ToJsonString();
        var before = await MetricsAsync(_server);
        var (status, first) = await PostAsync(_server, "/v1/chat/completions", Chat("What is 2 + 2?"));
        Assert.Equal(HttpStatusCode.OK, status);
        var afterFirst = await MetricsAsync(_server);
        var (_, second) = await PostAsync(_server, "/v1/chat/completions", Chat("Name a colour."));
        var afterSecond = await MetricsAsync(_server);

        var firstPrompt = first!["usage"]!["prompt_tokens"]!.GetValue<int>();
        var secondPrompt = second!["usage"]!["prompt_tokens"]!.GetValue<int>();
        Assert.True(firstPrompt is > 100 and < 400, $"the system prompt is {firstPrompt} tokens");
        Assert.Equal(firstPrompt, afterFirst["vllm:prefix_cache_queries_total"] - before.GetValueOrDefault("vllm:prefix_cache_queries_total"));
        Assert.Equal(secondPrompt, afterSecond["vllm:prefix_cache_queries_total"] - afterFirst["vllm:prefix_cache_queries_total"]);
        // The second request finds every full block the two prompts share (the system prompt and the template around it).
        var hits = afterSecond["vllm:prefix_cache_hits_total"] - afterFirst["vllm:prefix_cache_hits_total"];
        Assert.True(hits >= firstPrompt - 64 && hits % 16 == 0, $"{hits} of {secondPrompt} prompt tokens hit");
    }

    [Fact]
    public async Task The_choices_of_an_n_request_share_the_prompts_blocks()
    {
        var prompt = SystemPrompt + "Once upon a time";
        var promptTokens = await PromptTokensAsync(_server, new JsonObject { ["model"] = "tiny-llama", ["prompt"] = prompt }.ToJsonString());
        // Changes the cached prefix so the first choice computes the prompt itself.
        var request = new JsonObject { ["model"] = "tiny-llama", ["prompt"] = "Fresh: " + prompt, ["n"] = 3, ["max_tokens"] = 5, ["temperature"] = 0.8, ["seed"] = 7 };
        var before = await MetricsAsync(_server);
        var (status, body) = await PostAsync(_server, "/v1/completions", request.ToJsonString());
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(3, body!["choices"]!.AsArray().Count);
        var after = await MetricsAsync(_server);
        var tokens = body["usage"]!["prompt_tokens"]!.GetValue<int>();
        Assert.True(tokens >= promptTokens);
        Assert.Equal(3 * tokens, after["vllm:prefix_cache_queries_total"] - before["vllm:prefix_cache_queries_total"]);
        // Choices 2 and 3 take every full block but the last token's from choice 1.
        Assert.Equal(2 * ((tokens - 1) / 16 * 16), after["vllm:prefix_cache_hits_total"] - before["vllm:prefix_cache_hits_total"]);
    }

    [Fact]
    public async Task A_client_that_disconnects_mid_stream_frees_its_blocks()
    {
        using (var cts = new CancellationTokenSource())
        {
            var request = new HttpRequestMessage(HttpMethod.Post, new Uri(_server.BaseUri, "/v1/completions"))
            {
                Content = new StringContent(new JsonObject { ["model"] = "tiny-llama", ["prompt"] = SystemPrompt, ["max_tokens"] = 200, ["ignore_eos"] = true, ["stream"] = true }.ToJsonString(),
                    Encoding.UTF8, "application/json"),
            };
            using var response = await _server.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cts.Token);
            await using var stream = await response.Content.ReadAsStreamAsync(cts.Token);
            Assert.True(await stream.ReadAsync(new byte[256], cts.Token) > 0);
            var during = await MetricsAsync(_server);
            Assert.True(during["vllm:kv_cache_usage_perc"] > 0, "a running request holds blocks");
            cts.Cancel();
        }
        Dictionary<string, double> metrics;
        var deadline = DateTime.UtcNow.AddSeconds(20);
        do
        {
            await Task.Delay(50);
            metrics = await MetricsAsync(_server);
        } while ((metrics["vllm:kv_cache_usage_perc"] > 0 || metrics["vllm:num_requests_running"] > 0) && DateTime.UtcNow < deadline);
        Assert.Equal(0, metrics["vllm:num_requests_running"]);
        Assert.Equal(0, metrics["vllm:kv_cache_usage_perc"]);
    }

    /// <summary>
    /// 1056 KiB of KV cache are 32 blocks and the scratch block: one 512-token sequence (tiny-llama: 2 KiB per token). A
    /// slot cache would serve one request at a time. Paged, eight short ones run together, and long ones that outgrow
    /// the cache are preempted and recomputed rather than refused.
    /// </summary>
    [Fact]
    public async Task A_small_kv_cache_runs_short_requests_together_and_preempts_long_ones_without_refusing()
    {
        await using var server = await RunningServer.StartAsync(new Dictionary<string, string> { ["BENTO_KV_CACHE_MEMORY"] = "1056KiB" });
        var health = JsonNode.Parse(await server.Http.GetStringAsync(new Uri(server.BaseUri, "/health")))!["engine"]!;
        Assert.Equal(1, health["memory_plan"]!["sequences"]!.GetValue<int>());
        Assert.Equal(32, health["kv_cache"]!["blocks"]!.GetValue<int>());

        var maxRunning = 0;
        using var polling = new CancellationTokenSource();
        var poller = Task.Run(async () =>
        {
            while (!polling.IsCancellationRequested)
            {
                var running = (int)(await MetricsAsync(server))["vllm:num_requests_running"];
                maxRunning = Math.Max(maxRunning, running);
                await Task.Delay(5);
            }
        });
        var shortOnes = Enumerable.Range(0, 8).Select(i => PostAsync(server, "/v1/completions",
            $$"""{"model":"tiny-llama","prompt":"{{i}} {{i + 1}}","max_tokens":40,"ignore_eos":true,"temperature":0}""")).ToList();
        var shortResults = await Task.WhenAll(shortOnes);
        await polling.CancelAsync();
        await poller;
        Assert.All(shortResults, r => Assert.Equal(HttpStatusCode.OK, r.Status));
        Assert.True(maxRunning >= 4, $"at most {maxRunning} ran at once");

        var longOnes = Enumerable.Range(0, 4).Select(i => PostAsync(server, "/v1/completions",
            $$"""{"model":"tiny-llama","prompt":"{{i}}","max_tokens":300,"ignore_eos":true,"temperature":0}""")).ToList();
        var longResults = await Task.WhenAll(longOnes);
        Assert.All(longResults, r =>
        {
            Assert.Equal(HttpStatusCode.OK, r.Status);
            Assert.Equal(300, r.Body!["usage"]!["completion_tokens"]!.GetValue<int>());
        });
        Assert.True((await MetricsAsync(server))["vllm:num_preemptions_total"] > 0);
    }

    [Fact]
    public async Task A_burst_of_200_requests_against_8_sequences_is_answered_or_refused_and_the_server_lives()
    {
        await using var server = await RunningServer.StartAsync(maxWaiting: 32);
        var burst = Enumerable.Range(0, 200).Select(async i =>
        {
            using var response = await server.Http.PostAsync(new Uri(server.BaseUri, "/v1/completions"),
                new StringContent($$"""{"model":"tiny-llama","prompt":"{{i}}","max_tokens":4,"ignore_eos":true}""", Encoding.UTF8, "application/json"));
            var body = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
            return (response.StatusCode, body);
        }).ToList();
        var results = await Task.WhenAll(burst);
        var ok = results.Count(r => r.StatusCode == HttpStatusCode.OK);
        var refused = results.Where(r => r.StatusCode == HttpStatusCode.ServiceUnavailable).ToList();
        Assert.Equal(200, ok + refused.Count);
        Assert.True(ok >= 40, $"{ok} answered");
        Assert.All(results.Where(r => r.StatusCode == HttpStatusCode.OK), r => Assert.Equal(4, r.body["usage"]!["completion_tokens"]!.GetValue<int>()));
        Assert.All(refused, r => Assert.Equal("server_overloaded", r.body["error"]!["code"]!.GetValue<string>()));
        var metrics = await MetricsAsync(server);
        Assert.Equal(ok, metrics["vllm:request_success_total"]);
        var (status, _) = await PostAsync(server, "/v1/completions", """{"model":"tiny-llama","prompt":"1","max_tokens":2}""");
        Assert.Equal(HttpStatusCode.OK, status);
    }
}
