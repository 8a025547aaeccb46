using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Bento.Runtime.Settings;

namespace Bento.Runtime.Tests.Server;

/// <summary>Servers started with particular settings: the eager override, API keys, a tiny queue.</summary>
[Trait("Category", "Slow")]
public class ServerSettingsTests
{
    [Fact]
    public async Task Environment_override_of_enforce_eager_shows_on_health_with_its_source()
    {
        await using var server = await RunningServer.StartAsync(new Dictionary<string, string> { ["BENTO_ENFORCE_EAGER"] = "1" });
        var health = JsonNode.Parse(await server.Http.GetStringAsync(new Uri(server.BaseUri, "/health")))!;
        Assert.True(health["engine"]!["enforce_eager"]!["value"]!.GetValue<bool>());
        Assert.Equal("env", health["engine"]!["enforce_eager"]!["source"]!.GetValue<string>());
        Assert.Equal("BENTO_ENFORCE_EAGER", health["engine"]!["enforce_eager"]!["env"]!.GetValue<string>());
    }

    [Fact]
    public async Task Cli_flag_beats_the_environment()
    {
        await using var server = await RunningServer.StartAsync(
            new Dictionary<string, string> { ["BENTO_ENFORCE_EAGER"] = "true" }, CliOverrides.None.With(SettingName.EnforceEager, EagerMode.False));
        var health = JsonNode.Parse(await server.Http.GetStringAsync(new Uri(server.BaseUri, "/health")))!;
        Assert.False(health["engine"]!["enforce_eager"]!["value"]!.GetValue<bool>());
        Assert.Equal("cli", health["engine"]!["enforce_eager"]!["source"]!.GetValue<string>());
    }

    /// <summary>enforce_eager auto from the deployment: resolved and reported as auto, and on a CPU /health says graphs
    /// do not apply whatever the value, with the planner's reason.</summary>
    [Fact]
    public async Task Enforce_eager_auto_is_reported_and_a_cpu_says_graphs_do_not_apply()
    {
        await using var server = await RunningServer.StartAsync(new Dictionary<string, string> { ["BENTO_ENFORCE_EAGER"] = "auto" });
        var engine = JsonNode.Parse(await server.Http.GetStringAsync(new Uri(server.BaseUri, "/health")))!["engine"]!;
        Assert.Equal("auto", engine["enforce_eager"]!["value"]!.GetValue<string>());
        Assert.Equal("env", engine["enforce_eager"]!["source"]!.GetValue<string>());
        Assert.False(engine["cuda_graphs"]!["enabled"]!.GetValue<bool>());
        Assert.Equal("unavailable on CPU: a CPU has no CUDA graphs (enforce_eager auto has no effect here)", engine["cuda_graphs"]!["state"]!.GetValue<string>());
        Assert.False(engine["memory_plan"]!["cuda_graphs_enabled"]!.GetValue<bool>());
        Assert.Contains("a CPU has no CUDA graphs", engine["memory_plan"]!["cuda_graph_decision"]!.GetValue<string>());
    }

    [Fact]
    public async Task Api_key_is_required_on_v1_only()
    {
        await using var server = await RunningServer.StartAsync(new Dictionary<string, string> { ["BENTO_API_KEY"] = "s3cret" });
        var body = new StringContent("""{"model":"tiny-llama","prompt":"1","max_tokens":1}""", Encoding.UTF8, "application/json");
        var denied = await server.Http.PostAsync(new Uri(server.BaseUri, "/v1/completions"), body);
        Assert.Equal(HttpStatusCode.Unauthorized, denied.StatusCode);
        Assert.Contains("invalid_api_key", await denied.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.OK, (await server.Http.GetAsync(new Uri(server.BaseUri, "/health"))).StatusCode);
        foreach (var path in new[] { "/tokenize", "/detokenize" })
            Assert.Equal(HttpStatusCode.Unauthorized, (await server.Http.PostAsync(new Uri(server.BaseUri, path),
                new StringContent("""{"model":"tiny-llama","prompt":"1","tokens":[1]}""", Encoding.UTF8, "application/json"))).StatusCode);
        var health = await server.Http.GetStringAsync(new Uri(server.BaseUri, "/health"));
        Assert.DoesNotContain("s3cret", health);

        var request = new HttpRequestMessage(HttpMethod.Post, new Uri(server.BaseUri, "/v1/completions"))
        {
            Content = new StringContent("""{"model":"tiny-llama","prompt":"1","max_tokens":1}""", Encoding.UTF8, "application/json"),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "s3cret");
        Assert.Equal(HttpStatusCode.OK, (await server.Http.SendAsync(request)).StatusCode);
    }

    /// <summary>The memory plan sizes the KV cache: 3 MiB are 96 blocks, 95 usable and the scratch block, so 2
    /// full-length sequences; max_num_seqs still bounds how many shorter ones run together.</summary>
    [Fact]
    public async Task Kv_cache_memory_sizes_the_engine_from_the_memory_plan()
    {
        // tiny-llama: 4 layers x 2 KV heads x head_dim 32, keys and values in float32 = 2 KiB per token, 1 MiB per 512-token sequence.
        await using var server = await RunningServer.StartAsync(new Dictionary<string, string> { ["BENTO_KV_CACHE_MEMORY"] = "3MiB" });
        var engine = JsonNode.Parse(await server.Http.GetStringAsync(new Uri(server.BaseUri, "/health")))!["engine"]!;
        var plan = engine["memory_plan"]!;
        Assert.Equal(2048, plan["kv_bytes_per_token"]!.GetValue<long>());
        Assert.Equal(3L << 20, plan["kv_budget_bytes"]!.GetValue<long>());
        Assert.Equal(95, plan["kv_blocks"]!.GetValue<int>());
        Assert.Equal(2, plan["sequences"]!.GetValue<int>());
        Assert.Equal(8, plan["max_num_seqs"]!.GetValue<int>());
        // The plan counts what the runner holds: its 95 blocks plus the scratch block (where padded rows of a graph
        // bucket write), within the budget.
        Assert.Equal(3L << 20, plan["kv_cache_bytes"]!.GetValue<long>());
        Assert.Equal(3L << 20, engine["kv_cache_bytes"]!.GetValue<long>());
        Assert.Equal(95, engine["kv_cache"]!["blocks"]!.GetValue<int>());
        Assert.Equal(95 * 16, engine["kv_cache"]!["tokens"]!.GetValue<long>());
        Assert.Equal("cpu", plan["device"]!["kind"]!.GetValue<string>());
        Assert.True(plan["weight_bytes"]!.GetValue<long>() > 0);
    }

    [Fact]
    public async Task A_kv_budget_below_one_sequence_fails_the_load_with_what_to_change()
    {
        await using var server = await RunningServer.StartAsync(new Dictionary<string, string> { ["BENTO_KV_CACHE_MEMORY"] = "512KiB" }, waitUntilReady: false);
        JsonNode health;
        var deadline = DateTime.UtcNow.AddSeconds(60);
        do
        {
            await Task.Delay(100);
            using var response = await server.Http.GetAsync(new Uri(server.BaseUri, "/health"));
            health = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        } while (health["status"]!.GetValue<string>() == "loading" && DateTime.UtcNow < deadline);
        Assert.Equal("error", health["status"]!.GetValue<string>());
        Assert.Contains("set max_model_len to at most 240", health["error"]!.GetValue<string>()); // 16 blocks of 16 tokens, one the scratch block
        Assert.False(health["engine"]!["memory_plan"]!["fits"]!.GetValue<bool>());
    }

    [Fact]
    public async Task More_requests_than_the_queue_allows_get_503_not_a_crash()
    {
        await using var server = await RunningServer.StartAsync(cli: CliOverrides.None.With(SettingName.MaxNumSeqs, 1), maxWaiting: 1);
        var requests = Enumerable.Range(0, 8).Select(_ => server.Http.PostAsync(new Uri(server.BaseUri, "/v1/completions"),
            new StringContent("""{"model":"tiny-llama","prompt":"1","max_tokens":40,"ignore_eos":true}""", Encoding.UTF8, "application/json"))).ToList();
        var responses = await Task.WhenAll(requests);
        Assert.Contains(responses, r => r.StatusCode == HttpStatusCode.OK);
        var rejected = responses.Where(r => r.StatusCode == HttpStatusCode.ServiceUnavailable).ToList();
        Assert.NotEmpty(rejected);
        Assert.All(rejected, r => Assert.Equal("1", r.Headers.GetValues("Retry-After").Single()));
        Assert.Contains("server_overloaded", await rejected[0].Content.ReadAsStringAsync());
        var after = await server.Http.PostAsync(new Uri(server.BaseUri, "/v1/completions"),
            new StringContent("""{"model":"tiny-llama","prompt":"1","max_tokens":2}""", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, after.StatusCode);
    }
}
