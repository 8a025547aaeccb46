using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;

namespace Bento.Runtime.Tests.Server;

/// <summary>The HTTP surface with plain requests: shapes, bad input, disconnects; the server must stay up throughout.</summary>
[Collection("server"), Trait("Category", "Slow")]
public class HttpApiTests(SharedServer shared)
{
    private RunningServer Server => shared.Server;

    private async Task<(HttpStatusCode Status, JsonNode? Body)> PostAsync(string path, string json)
    {
        using var response = await Server.Http.PostAsync(new Uri(Server.BaseUri, path), new StringContent(json, Encoding.UTF8, "application/json"));
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, text.Length == 0 ? null : JsonNode.Parse(text));
    }

    private async Task AssertStillServesAsync()
    {
        var (status, body) = await PostAsync("/v1/completions", """{"model":"tiny-llama","prompt":"1 2 3","max_tokens":3,"temperature":0}""");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(3, body!["usage"]!["completion_tokens"]!.GetValue<int>());
    }

    [Fact]
    public async Task Completion_has_openai_shape_and_greedy_is_deterministic()
    {
        const string request = """{"model":"tiny-llama","prompt":"1 2 3 4","max_tokens":8,"temperature":0,"ignore_eos":true}""";
        var (status, a) = await PostAsync("/v1/completions", request);
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("text_completion", a!["object"]!.GetValue<string>());
        Assert.StartsWith("cmpl-", a["id"]!.GetValue<string>());
        var choice = a["choices"]![0]!;
        Assert.Equal("length", choice["finish_reason"]!.GetValue<string>());
        Assert.Equal(8, a["usage"]!["completion_tokens"]!.GetValue<int>());
        Assert.Equal(a["usage"]!["prompt_tokens"]!.GetValue<int>() + 8, a["usage"]!["total_tokens"]!.GetValue<int>());
        var (_, b) = await PostAsync("/v1/completions", request);
        Assert.Equal(choice["text"]!.GetValue<string>(), b!["choices"]![0]!["text"]!.GetValue<string>());
    }

    /// <summary>
    /// vLLM sends whole JSON answers with Content-Length; chunked ones break the openai npm client 4.x (node-fetch's
    /// "Premature close"). Errors and the GET endpoints too, not only completions.
    /// </summary>
    [Theory]
    [InlineData("POST", "/v1/completions", """{"model":"tiny-llama","prompt":"1 2","max_tokens":3}""", 200)]
    [InlineData("POST", "/v1/chat/completions", """{"model":"tiny-llama","messages":[{"role":"user","content":"1"}],"max_tokens":3}""", 200)]
    [InlineData("POST", "/v1/completions", """{"model":"tiny-llama","prompt":"1","max_tokens":100000}""", 400)]
    [InlineData("POST", "/v1/completions", """{"model":"nosuch","prompt":"1"}""", 404)]
    [InlineData("GET", "/v1/models", null, 200)]
    [InlineData("GET", "/health", null, 200)]
    [InlineData("GET", "/ready", null, 200)]
    public async Task Non_streamed_answers_carry_content_length_not_chunked_encoding(string method, string path, string? json, int status)
    {
        using var request = new HttpRequestMessage(new HttpMethod(method), new Uri(Server.BaseUri, path));
        if (json is not null) request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        using var response = await Server.Http.SendAsync(request);
        var body = await response.Content.ReadAsByteArrayAsync();
        Assert.Equal(status, (int)response.StatusCode);
        Assert.NotEqual(true, response.Headers.TransferEncodingChunked);
        Assert.Equal(body.Length, response.Content.Headers.ContentLength);
        JsonNode.Parse(body);
    }

    [Theory]
    [InlineData("/v1/completions", """{"model":"tiny-llama","prompt":"a\ud800b","max_tokens":2}""", "prompt")]
    [InlineData("/v1/completions", """{"model":"tiny-llama","prompt":"ab","stop":["\udc00"],"max_tokens":2}""", "stop")]
    [InlineData("/v1/chat/completions", """{"model":"tiny-llama","messages":[{"role":"user","content":"x\ud83d"}]}""", "messages")]
    public async Task A_lone_surrogate_is_a_400_naming_the_field(string path, string json, string field)
    {
        var (status, body) = await PostAsync(path, json);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal(field, body!["error"]!["param"]!.GetValue<string>());
        Assert.Contains("lone UTF-16 surrogate", body["error"]!["message"]!.GetValue<string>());
        await AssertStillServesAsync();
    }

    /// <summary>A multi-megabyte prompt is refused from its size, not after tokenizing all of it.</summary>
    [Fact]
    public async Task A_prompt_far_beyond_the_context_is_refused_without_tokenizing_it()
    {
        var prompt = string.Concat(Enumerable.Repeat("ab ", 2_000_000));
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var (status, body) = await PostAsync("/v1/completions", new JsonObject { ["model"] = "tiny-llama", ["prompt"] = prompt, ["max_tokens"] = 1 }.ToJsonString());
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("maximum context length is 512 tokens", body!["error"]!["message"]!.GetValue<string>());
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), $"took {watch.Elapsed}");

        // Just past what 512 tokens can cover: tokenized, but only until it is known to be too long.
        var counting = string.Join(' ', Enumerable.Range(1, 700));
        var (status2, body2) = await PostAsync("/v1/completions", new JsonObject { ["model"] = "tiny-llama", ["prompt"] = counting, ["max_tokens"] = 1 }.ToJsonString());
        Assert.Equal(HttpStatusCode.BadRequest, status2);
        Assert.Contains("maximum context length", body2!["error"]!["message"]!.GetValue<string>());
        await AssertStillServesAsync();
    }

    /// <summary>Refused from its Content-Length, before the body is read (the client has sent only a little of it).</summary>
    [Fact]
    public async Task A_body_over_max_request_bytes_is_413_not_500()
    {
        var answer = await RawAsync($"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {9 << 20}\r\n\r\n{{\"model\":\"tiny-llama\",\"prompt\":\"aaaa");
        Assert.StartsWith("HTTP/1.1 413", answer);
        Assert.Contains("request_too_large", answer);
        await AssertStillServesAsync();
    }

    /// <summary>Sends raw bytes on a new connection and returns the first answer's text.</summary>
    private async Task<string> RawAsync(string request)
    {
        using var client = new System.Net.Sockets.TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, Server.Port);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request));
        var buffer = new byte[4096];
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var total = 0;
        while (total < buffer.Length)
        {
            var read = await stream.ReadAsync(buffer.AsMemory(total), cts.Token);
            if (read == 0) break;
            total += read;
            var text = Encoding.ASCII.GetString(buffer, 0, total);
            var head = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
            if (head > 0 && System.Text.RegularExpressions.Regex.Match(text, "Content-Length: (\\d+)") is { Success: true } m &&
                total >= head + 4 + int.Parse(m.Groups[1].Value)) break;
        }
        return Encoding.ASCII.GetString(buffer, 0, total);
    }

    [Fact]
    public async Task Malformed_http_is_a_4xx_and_the_server_stays_up()
    {
        var answer = await RawAsync("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n{}\r\n0\r\n\r\n");
        Assert.StartsWith("HTTP/1.1 400", answer);
        await AssertStillServesAsync();
    }

    [Fact]
    public async Task Tokenize_and_detokenize_match_what_generation_counts_and_round_trip()
    {
        const string text = "1 2 3 hello, world";
        var (status, tokenized) = await PostAsync("/tokenize", $$"""{"model":"tiny-llama","prompt":"{{text}}","return_token_strs":true}""");
        Assert.Equal(HttpStatusCode.OK, status);
        var (_, completion) = await PostAsync("/v1/completions", $$"""{"model":"tiny-llama","prompt":"{{text}}","max_tokens":1}""");
        Assert.Equal(completion!["usage"]!["prompt_tokens"]!.GetValue<int>(), tokenized!["count"]!.GetValue<int>());
        Assert.Equal(512, tokenized["max_model_len"]!.GetValue<int>());
        Assert.Equal(tokenized["count"]!.GetValue<int>(), tokenized["tokens"]!.AsArray().Count);
        Assert.Equal(tokenized["count"]!.GetValue<int>(), tokenized["token_strs"]!.AsArray().Count);

        var (_, plain) = await PostAsync("/tokenize", $$"""{"model":"tiny-llama","prompt":"{{text}}","add_special_tokens":false}""");
        Assert.Null(plain!["token_strs"]);
        var (status2, back) = await PostAsync("/detokenize", new JsonObject { ["model"] = "tiny-llama", ["tokens"] = plain["tokens"]!.DeepClone() }.ToJsonString());
        Assert.Equal(HttpStatusCode.OK, status2);
        Assert.Equal(text, back!["prompt"]!.GetValue<string>());

        const string chat = """{"model":"tiny-llama","messages":[{"role":"user","content":"1 2 3"}],"max_tokens":1}""";
        var (_, chatTokens) = await PostAsync("/tokenize", chat);
        var (_, chatCompletion) = await PostAsync("/v1/chat/completions", chat);
        Assert.Equal(chatCompletion!["usage"]!["prompt_tokens"]!.GetValue<int>(), chatTokens!["count"]!.GetValue<int>());
    }

    [Theory]
    [InlineData("/detokenize", """{"model":"tiny-llama","tokens":[1, 99999]}""", "tokens", "outside the vocabulary")]
    [InlineData("/detokenize", """{"model":"tiny-llama","tokens":"abc"}""", "tokens", "list of integers")]
    [InlineData("/detokenize", """{"model":"tiny-llama"}""", "tokens", "required")]
    [InlineData("/tokenize", """{"model":"tiny-llama"}""", "prompt", "give 'prompt'")]
    [InlineData("/tokenize", """{"model":"tiny-llama","messages":[]}""", "messages", "non-empty")]
    public async Task Tokenizer_endpoints_refuse_bad_input_naming_the_field(string path, string json, string field, string expected)
    {
        var (status, body) = await PostAsync(path, json);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal(field, body!["error"]!["param"]!.GetValue<string>());
        Assert.Contains(expected, body["error"]!["message"]!.GetValue<string>());
    }

    /// <summary>A +100 bias makes one token the only choice, on both endpoints; penalties are accepted.</summary>
    [Fact]
    public async Task Logit_bias_forces_a_token_and_penalties_are_accepted()
    {
        var (_, seven) = await PostAsync("/tokenize", """{"model":"tiny-llama","prompt":"7","add_special_tokens":false}""");
        var id = Assert.Single(seven!["tokens"]!.AsArray())!.GetValue<int>();
        var (status, forced) = await PostAsync("/v1/completions", $$$"""{"model":"tiny-llama","prompt":"1 2","max_tokens":3,"temperature":0,"ignore_eos":true,"logit_bias":{"{{{id}}}":100}}""");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("777", forced!["choices"]![0]!["text"]!.GetValue<string>());
        var (chatStatus, chat) = await PostAsync("/v1/chat/completions", $$$"""{"model":"tiny-llama","messages":[{"role":"user","content":"1"}],"max_tokens":2,"temperature":0,"ignore_eos":true,"logit_bias":{"{{{id}}}":100}}""");
        Assert.Equal(HttpStatusCode.OK, chatStatus);
        Assert.Equal("77", chat!["choices"]![0]!["message"]!["content"]!.GetValue<string>());
        var (penalized, _) = await PostAsync("/v1/completions", """{"model":"tiny-llama","prompt":"1 2","max_tokens":3,"presence_penalty":1.5,"frequency_penalty":0.5,"repetition_penalty":1.2}""");
        Assert.Equal(HttpStatusCode.OK, penalized);
    }

    [Theory]
    [InlineData("""{"99999":5}""", "not a token id")]
    [InlineData("""{"abc":5}""", "not a token id")]
    [InlineData("""{"3":500}""", "from -100 to 100")]
    [InlineData("""[1,2]""", "must be an object")]
    public async Task Bad_logit_bias_is_a_400_naming_it(string bias, string expected)
    {
        var (status, body) = await PostAsync("/v1/completions", $$"""{"model":"tiny-llama","prompt":"1","max_tokens":1,"logit_bias":{{bias}}}""");
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("logit_bias", body!["error"]!["param"]!.GetValue<string>());
        Assert.Contains(expected, body["error"]!["message"]!.GetValue<string>());
    }

    [Fact]
    public async Task Chat_logprobs_have_openai_shape_and_agree_with_greedy_choice()
    {
        var (status, body) = await PostAsync("/v1/chat/completions", """{"model":"tiny-llama","messages":[{"role":"user","content":"1 2 3"}],"max_tokens":6,"temperature":0,"ignore_eos":true,"logprobs":true,"top_logprobs":3}""");
        Assert.Equal(HttpStatusCode.OK, status);
        var choice = body!["choices"]![0]!;
        var content = choice["logprobs"]!["content"]!.AsArray();
        Assert.Equal(body["usage"]!["completion_tokens"]!.GetValue<int>(), content.Count);
        // Every generated token has an entry, special ones too (ignore_eos lets end-of-text through), whose text the
        // message leaves out.
        Assert.Equal(choice["message"]!["content"]!.GetValue<string>(),
            string.Concat(content.Select(c => c!["token"]!.GetValue<string>()).Where(t => !(t.StartsWith("<|", StringComparison.Ordinal) && t.EndsWith("|>", StringComparison.Ordinal)))));
        foreach (var entry in content)
        {
            var top = entry!["top_logprobs"]!.AsArray();
            Assert.Equal(3, top.Count);
            var values = top.Select(t => t!["logprob"]!.GetValue<double>()).ToList();
            Assert.Equal(values.OrderByDescending(v => v), values);
            Assert.True(values.Sum(Math.Exp) <= 1.0001);
            // Greedy takes the likeliest token, so the chosen one is the first alternative.
            Assert.Equal(top[0]!["token"]!.GetValue<string>(), entry["token"]!.GetValue<string>());
            Assert.Equal(values[0], entry["logprob"]!.GetValue<double>(), 5);
            Assert.Equal(Encoding.UTF8.GetBytes(entry["token"]!.GetValue<string>()).Select(b => (int)b), entry["bytes"]!.AsArray().Select(b => b!.GetValue<int>()));
        }
    }

    [Fact]
    public async Task Completion_logprobs_have_tokens_offsets_and_top_maps()
    {
        var (_, body) = await PostAsync("/v1/completions", """{"model":"tiny-llama","prompt":"1 2 3","max_tokens":5,"temperature":0,"ignore_eos":true,"logprobs":2}""");
        var choice = body!["choices"]![0]!;
        var lp = choice["logprobs"]!;
        var tokens = lp["tokens"]!.AsArray().Select(t => t!.GetValue<string>()).ToList();
        Assert.Equal(5, tokens.Count);
        Assert.Equal(choice["text"]!.GetValue<string>(), string.Concat(tokens));
        var offsets = lp["text_offset"]!.AsArray().Select(o => o!.GetValue<int>()).ToList();
        Assert.Equal(0, offsets[0]);
        for (var i = 1; i < offsets.Count; i++) Assert.Equal(offsets[i - 1] + tokens[i - 1].Length, offsets[i]);
        Assert.All(lp["top_logprobs"]!.AsArray(), t => Assert.InRange(t!.AsObject().Count, 1, 2));
        Assert.Equal(5, lp["token_logprobs"]!.AsArray().Count);
    }

    [Fact]
    public async Task Streamed_logprobs_cover_every_generated_token()
    {
        var request = new HttpRequestMessage(HttpMethod.Post, new Uri(Server.BaseUri, "/v1/chat/completions"))
        {
            Content = new StringContent("""{"model":"tiny-llama","messages":[{"role":"user","content":"1 2"}],"max_tokens":7,"ignore_eos":true,"logprobs":true,"stream":true,"stream_options":{"include_usage":true}}""", Encoding.UTF8, "application/json"),
        };
        using var response = await Server.Http.SendAsync(request);
        var chunks = (await response.Content.ReadAsStringAsync()).Split("\n\n", StringSplitOptions.RemoveEmptyEntries)
            .Where(e => e != "data: [DONE]").Select(e => JsonNode.Parse(e["data: ".Length..])!).ToList();
        var entries = chunks.Where(c => c["choices"]!.AsArray().Count > 0 && c["choices"]![0]!["logprobs"] is JsonObject)
            .Sum(c => c["choices"]![0]!["logprobs"]!["content"]!.AsArray().Count);
        Assert.Equal(chunks[^1]["usage"]!["completion_tokens"]!.GetValue<int>(), entries);
    }

    [Theory]
    [InlineData("/v1/chat/completions", "\"logprobs\":true,\"top_logprobs\":21", "top_logprobs")]
    [InlineData("/v1/chat/completions", "\"top_logprobs\":2", "top_logprobs")]
    [InlineData("/v1/completions", "\"logprobs\":true", "logprobs")]
    [InlineData("/v1/completions", "\"logprobs\":21", "logprobs")]
    public async Task Bad_logprobs_requests_are_400s_naming_the_field(string path, string fields, string param)
    {
        var input = path.Contains("chat") ? "\"messages\":[{\"role\":\"user\",\"content\":\"1\"}]" : "\"prompt\":\"1\"";
        var (status, body) = await PostAsync(path, $"{{\"model\":\"tiny-llama\",{input},\"max_tokens\":1,{fields}}}");
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal(param, body!["error"]!["param"]!.GetValue<string>());
    }

    [Fact]
    public async Task N_choices_come_indexed_with_summed_usage_and_a_seed_makes_them_reproducible()
    {
        const string request = """{"model":"tiny-llama","prompt":"1 2 3","max_tokens":8,"temperature":1.0,"seed":7,"ignore_eos":true,"n":3}""";
        var (status, a) = await PostAsync("/v1/completions", request);
        Assert.Equal(HttpStatusCode.OK, status);
        var choices = a!["choices"]!.AsArray();
        Assert.Equal([0, 1, 2], choices.Select(c => c!["index"]!.GetValue<int>()));
        Assert.Equal(24, a["usage"]!["completion_tokens"]!.GetValue<int>());
        Assert.Equal(a["usage"]!["prompt_tokens"]!.GetValue<int>() + 24, a["usage"]!["total_tokens"]!.GetValue<int>());
        var (_, b) = await PostAsync("/v1/completions", request);
        Assert.Equal(choices.Select(c => c!["text"]!.GetValue<string>()), b!["choices"]!.AsArray().Select(c => c!["text"]!.GetValue<string>()));

        var (_, greedy) = await PostAsync("/v1/chat/completions", """{"model":"tiny-llama","messages":[{"role":"user","content":"1"}],"max_tokens":4,"temperature":0,"n":2}""");
        var texts = greedy!["choices"]!.AsArray().Select(c => c!["message"]!["content"]!.GetValue<string>()).ToList();
        Assert.Equal(2, texts.Count);
        Assert.Equal(texts[0], texts[1]);
    }

    [Fact]
    public async Task Streamed_n_choices_each_finish_and_usage_counts_them_all()
    {
        var request = new HttpRequestMessage(HttpMethod.Post, new Uri(Server.BaseUri, "/v1/chat/completions"))
        {
            Content = new StringContent("""{"model":"tiny-llama","messages":[{"role":"user","content":"1 2"}],"max_tokens":5,"ignore_eos":true,"n":2,"stream":true,"stream_options":{"include_usage":true}}""", Encoding.UTF8, "application/json"),
        };
        using var response = await Server.Http.SendAsync(request);
        var events = (await response.Content.ReadAsStringAsync()).Split("\n\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("data: [DONE]", events[^1]);
        var chunks = events[..^1].Select(e => JsonNode.Parse(e["data: ".Length..])!).ToList();
        var withChoices = chunks.Where(c => c["choices"]!.AsArray().Count > 0).Select(c => c["choices"]![0]!).ToList();
        foreach (var index in new[] { 0, 1 })
        {
            var mine = withChoices.Where(c => c["index"]!.GetValue<int>() == index).ToList();
            Assert.Equal("assistant", mine[0]["delta"]!["role"]!.GetValue<string>());
            Assert.Equal("length", mine[^1]["finish_reason"]!.GetValue<string>());
        }
        Assert.Equal(10, chunks[^1]["usage"]!["completion_tokens"]!.GetValue<int>());
    }

    [Fact]
    public async Task N_above_max_num_seqs_is_a_400()
    {
        var (status, body) = await PostAsync("/v1/completions", """{"model":"tiny-llama","prompt":"1","max_tokens":1,"n":9}""");
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("n", body!["error"]!["param"]!.GetValue<string>());
        Assert.Contains("max_num_seqs", body["error"]!["message"]!.GetValue<string>());
    }

    [Fact]
    public async Task Streaming_completion_is_sse_ending_with_done_and_usage_when_asked()
    {
        var request = new HttpRequestMessage(HttpMethod.Post, new Uri(Server.BaseUri, "/v1/completions"))
        {
            Content = new StringContent("""{"model":"tiny-llama","prompt":"1 2","max_tokens":5,"temperature":0,"stream":true,"stream_options":{"include_usage":true}}""", Encoding.UTF8, "application/json"),
        };
        using var response = await Server.Http.SendAsync(request);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType!.MediaType);
        var events = (await response.Content.ReadAsStringAsync()).Split("\n\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.All(events, e => Assert.StartsWith("data: ", e));
        Assert.Equal("data: [DONE]", events[^1]);
        var usage = JsonNode.Parse(events[^2]["data: ".Length..])!;
        Assert.Empty(usage["choices"]!.AsArray());
        Assert.Equal(5, usage["usage"]!["completion_tokens"]!.GetValue<int>());
        var last = JsonNode.Parse(events[^3]["data: ".Length..])!;
        Assert.Equal("length", last["choices"]![0]!["finish_reason"]!.GetValue<string>());
    }

    [Theory]
    [InlineData("{not json", 400, "not valid JSON")]
    [InlineData("[1,2]", 400, "must be a JSON object")]
    [InlineData("""{"prompt":"hi"}""", 400, "'model' is required")]
    [InlineData("""{"model":"tiny-llama"}""", 400, "'prompt' is required")]
    [InlineData("""{"model":"tiny-llama","prompt":"hi","max_tokens":"ten"}""", 400, "'max_tokens' must be an integer")]
    [InlineData("""{"model":"tiny-llama","prompt":"hi","max_tokens":1000000000}""", 400, "maximum context length is 512 tokens")]
    [InlineData("""{"model":"tiny-llama","prompt":"hi","max_tokens":600}""", 400, "maximum context length is 512 tokens")]
    [InlineData("""{"model":"tiny-llama","prompt":"hi","temperature":-1}""", 400, "'temperature' must be a number from 0 to 2")]
    [InlineData("""{"model":"tiny-llama","prompt":"hi","top_p":"x"}""", 400, "'top_p' must be a number")]
    [InlineData("""{"model":"tiny-llama","prompt":"hi","best_of":3,"stream":true}""", 400, "best_of cannot be used with stream")]
    [InlineData("""{"model":"tiny-llama","prompt":"hi","best_of":2,"n":3}""", 400, "best_of (2) must be at least n (3)")]
    [InlineData("""{"model":"nope","prompt":"hi"}""", 404, "does not exist")]
    public async Task Bad_completion_requests_get_openai_errors_and_the_server_stays_up(string body, int status, string message)
    {
        var (code, error) = await PostAsync("/v1/completions", body);
        Assert.Equal(status, (int)code);
        Assert.Contains(message, error!["error"]!["message"]!.GetValue<string>());
        Assert.NotNull(error["error"]!["type"]);
        await AssertStillServesAsync();
    }

    [Theory]
    [InlineData("""{"model":"tiny-llama","messages":[]}""", "'messages' must not be empty")]
    [InlineData("""{"model":"tiny-llama","messages":"hi"}""", "'messages' must be a list")]
    [InlineData("""{"model":"tiny-llama","messages":[{"role":"wizard","content":"hi"}]}""", "role must be")]
    [InlineData("""{"model":"tiny-llama","messages":[{"role":"user","content":5}]}""", "content must be a string")]
    public async Task Bad_chat_requests_are_400s(string body, string message)
    {
        var (code, error) = await PostAsync("/v1/chat/completions", body);
        Assert.Equal(HttpStatusCode.BadRequest, code);
        Assert.Contains(message, error!["error"]!["message"]!.GetValue<string>());
        await AssertStillServesAsync();
    }

    [Fact]
    public async Task A_client_that_disconnects_mid_stream_frees_its_request()
    {
        using (var cts = new CancellationTokenSource())
        {
            var request = new HttpRequestMessage(HttpMethod.Post, new Uri(Server.BaseUri, "/v1/completions"))
            {
                Content = new StringContent("""{"model":"tiny-llama","prompt":"1","max_tokens":500,"ignore_eos":true,"stream":true}""", Encoding.UTF8, "application/json"),
            };
            using var response = await Server.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cts.Token);
            await using var stream = await response.Content.ReadAsStreamAsync(cts.Token);
            var buffer = new byte[256];
            Assert.True(await stream.ReadAsync(buffer, cts.Token) > 0);
            cts.Cancel();
        }
        var deadline = DateTime.UtcNow.AddSeconds(20);
        JsonNode? health;
        do
        {
            await Task.Delay(100);
            health = JsonNode.Parse(await Server.Http.GetStringAsync(new Uri(Server.BaseUri, "/health")));
        } while (health!["engine"]!["running"]!.GetValue<int>() > 0 && DateTime.UtcNow < deadline);
        Assert.Equal(0, health["engine"]!["running"]!.GetValue<int>());
        await AssertStillServesAsync();
    }

    [Fact]
    public async Task Models_health_ready_and_metrics()
    {
        var models = JsonNode.Parse(await Server.Http.GetStringAsync(new Uri(Server.BaseUri, "/v1/models")))!;
        Assert.Equal("tiny-llama", models["data"]![0]!["id"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.OK, (await Server.Http.GetAsync(new Uri(Server.BaseUri, "/ready"))).StatusCode);

        var health = JsonNode.Parse(await Server.Http.GetStringAsync(new Uri(Server.BaseUri, "/health")))!;
        var eager = health["engine"]!["enforce_eager"]!;
        Assert.False(eager["value"]!.GetValue<bool>());
        Assert.Equal("bento", eager["source"]!.GetValue<string>());
        Assert.Equal("cpu", health["engine"]!["device"]!.GetValue<string>());
        Assert.Equal("float32", health["engine"]!["dtype"]!.GetValue<string>());
        Assert.Contains("unavailable on CPU", health["engine"]!["cuda_graphs"]!["state"]!.GetValue<string>());

        await AssertStillServesAsync();
        var metrics = await Server.Http.GetStringAsync(new Uri(Server.BaseUri, "/metrics"));
        foreach (var name in new[] { "vllm:num_requests_running", "vllm:num_requests_waiting", "vllm:kv_cache_usage_perc", "vllm:prompt_tokens_total",
                     "vllm:generation_tokens_total", "vllm:time_to_first_token_seconds_bucket", "vllm:e2e_request_latency_seconds_bucket", "vllm:inter_token_latency_seconds_bucket" })
            Assert.Contains(name + "{", metrics);
        Assert.Contains("# TYPE vllm:generation_tokens_total counter", metrics);
        var generated = metrics.Split('\n').Single(l => l.StartsWith("vllm:generation_tokens_total{model_name=\"tiny-llama\"}", StringComparison.Ordinal));
        Assert.True(double.Parse(generated.Split(' ')[^1], System.Globalization.CultureInfo.InvariantCulture) >= 3);
    }
}
