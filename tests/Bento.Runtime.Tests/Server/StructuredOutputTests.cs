using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Json.Schema;

namespace Bento.Runtime.Tests.Server;

/// <summary>
/// Constrained decoding, echo, best_of and tool calls through the real server on the example's random weights: the
/// model writes garbage, so every valid output is the constraint's doing. Outputs that finish parse and validate
/// (JsonSchema.Net) for many seeds; a max_tokens cut-off says finish_reason length.
/// </summary>
[Collection("server"), Trait("Category", "Slow")]
public class StructuredOutputTests(SharedServer shared)
{
    private RunningServer Server => shared.Server;

    internal const string PersonSchema = """{"type":"object","properties":{"name":{"type":"string","maxLength":10},"age":{"type":"integer","minimum":0,"maximum":150},"tags":{"type":"array","items":{"enum":["a","b","c"]},"maxItems":3},"email":{"type":["string","null"],"format":"email"}},"required":["name","age","tags"],"additionalProperties":false}""";

    private async Task<(HttpStatusCode Status, JsonNode? Body)> PostAsync(string path, string json)
    {
        using var response = await Server.Http.PostAsync(new Uri(Server.BaseUri, path), new StringContent(json, Encoding.UTF8, "application/json"));
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, text.Length == 0 ? null : JsonNode.Parse(text));
    }

    private static void AssertValid(string schema, string output, string context)
    {
        JsonDocument document;
        try { document = JsonDocument.Parse(output); }
        catch (JsonException e) { throw new Xunit.Sdk.XunitException($"{context}: not JSON ({e.Message}): {output}"); }
        using (document)
        {
            var result = JsonSchema.FromText(schema).Evaluate(document.RootElement, new EvaluationOptions { RequireFormatValidation = true });
            Assert.True(result.IsValid, $"{context}: {output} does not validate against {schema}");
        }
    }

    [Fact]
    public async Task Json_schema_chat_outputs_validate_for_every_seed()
    {
        var finished = 0;
        for (var seed = 0; seed < 16; seed++)
        {
            var (status, body) = await PostAsync("/v1/chat/completions",
                $$"""{"model":"tiny-llama","messages":[{"role":"user","content":"a person"}],"max_tokens":300,"seed":{{seed}},"temperature":1,"response_format":{"type":"json_schema","json_schema":{"name":"person","strict":true,"schema":""" +
                PersonSchema + "}}}");
            Assert.Equal(HttpStatusCode.OK, status);
            var choice = body!["choices"]![0]!;
            var text = choice["message"]!["content"]!.GetValue<string>();
            if (choice["finish_reason"]!.GetValue<string>() == "length") continue;
            Assert.Equal("stop", choice["finish_reason"]!.GetValue<string>());
            AssertValid(PersonSchema, text, $"seed {seed}");
            finished++;
        }
        Assert.True(finished >= 12, $"{finished} of 16 finished within max_tokens");
    }

    [Fact]
    public async Task Greedy_constrained_output_is_deterministic_and_streams_the_same_text()
    {
        var request = $$"""{"model":"tiny-llama","prompt":"1 2 3","max_tokens":200,"temperature":0,"guided_json":{{PersonSchema}}""";
        var (_, a) = await PostAsync("/v1/completions", request + "}");
        var (_, b) = await PostAsync("/v1/completions", request + "}");
        var text = a!["choices"]![0]!["text"]!.GetValue<string>();
        Assert.Equal(text, b!["choices"]![0]!["text"]!.GetValue<string>());

        using var response = await Server.Http.PostAsync(new Uri(Server.BaseUri, "/v1/completions"), new StringContent(request + ""","stream":true}""", Encoding.UTF8, "application/json"));
        var events = (await response.Content.ReadAsStringAsync()).Split("\n\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("data: [DONE]", events[^1]);
        var streamed = string.Concat(events[..^1].Select(e => JsonNode.Parse(e["data: ".Length..])!["choices"]![0]!["text"]!.GetValue<string>()));
        Assert.Equal(text, streamed);
    }

    [Fact]
    public async Task Json_object_regex_choice_and_structured_outputs_hold_on_both_endpoints()
    {
        for (var seed = 0; seed < 6; seed++)
        {
            var (_, obj) = await PostAsync("/v1/chat/completions", $$$"""{"model":"tiny-llama","messages":[{"role":"user","content":"x"}],"max_tokens":400,"seed":{{{seed}}},"response_format":{"type":"json_object"}}""");
            var choice = obj!["choices"]![0]!;
            if (choice["finish_reason"]!.GetValue<string>() == "stop") Assert.IsType<JsonObject>(JsonNode.Parse(choice["message"]!["content"]!.GetValue<string>()));

            var (_, regex) = await PostAsync("/v1/completions", $$"""{"model":"tiny-llama","prompt":"phone:","max_tokens":40,"seed":{{seed}},"guided_regex":"\\(\\d{3}\\) \\d{3}-\\d{4}"}""");
            Assert.Matches(@"^\(\d{3}\) \d{3}-\d{4}$", regex!["choices"]![0]!["text"]!.GetValue<string>());

            var (_, choice2) = await PostAsync("/v1/chat/completions", $$"""{"model":"tiny-llama","messages":[{"role":"user","content":"x"}],"max_tokens":20,"seed":{{seed}},"guided_choice":["positive","negative","neutral"]}""");
            Assert.Contains(choice2!["choices"]![0]!["message"]!["content"]!.GetValue<string>(), new[] { "positive", "negative", "neutral" });

            var (_, so) = await PostAsync("/v1/completions", $$$"""{"model":"tiny-llama","prompt":"x","max_tokens":20,"seed":{{{seed}}},"structured_outputs":{"choice":["yes","no"]}}""");
            Assert.Contains(so!["choices"]![0]!["text"]!.GetValue<string>(), new[] { "yes", "no" });
        }
    }

    [Fact]
    public async Task A_max_tokens_cut_off_is_reported_as_length()
    {
        var (_, body) = await PostAsync("/v1/chat/completions", """{"model":"tiny-llama","messages":[{"role":"user","content":"x"}],"max_tokens":3,"seed":1,"response_format":{"type":"json_schema","json_schema":{"name":"s","schema":{"type":"object","properties":{"long":{"type":"string","minLength":40}},"required":["long"]}}}}""");
        var choice = body!["choices"]![0]!;
        Assert.Equal("length", choice["finish_reason"]!.GetValue<string>());
        Assert.StartsWith("{", choice["message"]!["content"]!.GetValue<string>());
    }

    [Theory]
    [InlineData("""{"response_format":{"type":"json_schema","json_schema":{"name":"s","schema":{"type":"object","properties":{"a":{"type":"strng"}}}}}}""", "response_format", "unknown type 'strng'")]
    [InlineData("""{"response_format":{"type":"json_schema","json_schema":{"name":"s","schema":{"type":"string","pattern":"(a"}}}}""", "response_format", "missing ')'")]
    [InlineData("""{"response_format":{"type":"json_schema","json_schema":{"name":"s"}}}""", "response_format", "needs json_schema")]
    [InlineData("""{"response_format":{"type":"yaml"}}""", "response_format", "is not text, json_object or json_schema")]
    [InlineData("""{"guided_regex":"a(?=b)"}""", "guided_regex", "lookaround")]
    [InlineData("""{"guided_json":"{not json"}""", "guided_json", "not valid JSON")]
    [InlineData("""{"guided_choice":[]}""", "guided_choice", "at least one choice")]
    [InlineData("""{"guided_grammar":"root ::= 'a'"}""", "guided_grammar", "not supported")]
    [InlineData("""{"guided_choice":["a"],"guided_regex":"b"}""", "guided_choice", "give one output constraint, not guided_regex and guided_choice")]
    [InlineData("""{"structured_outputs":{"grammar":"x"}}""", "structured_outputs", "not supported")]
    [InlineData("""{"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":{"type":"function","function":{"name":"g"}}}""", "tool_choice", "'g', which is not in tools (f)")]
    [InlineData("""{"tool_choice":"required"}""", "tool_choice", "needs at least one tool")]
    [InlineData("""{"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"sometimes"}""", "tool_choice", "'sometimes' is not none, auto, required")]
    [InlineData("""{"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{"x":{"not":{}}}}}}],"tool_choice":"required"}""", "tools", "tools[0].function.parameters: at #/properties/x: 'not' is not supported")]
    [InlineData("""{"tools":[{"type":"function","function":{"name":"bad name!"}}]}""", "tools", "function.name must be")]
    [InlineData("""{"tools":[{"type":"function","function":{"name":"f"}}]}""", "tool_choice", "set runtime.tool_call_parser")]
    [InlineData("""{"logprobs":true,"top_logprobs":21}""", "top_logprobs", "from 0 to 20")]
    [InlineData("""{"logit_bias":{"512":1}}""", "logit_bias", "not a token id")]
    [InlineData("""{"n":9}""", "n", "max_num_seqs")]
    public async Task Bad_constraints_and_tools_are_400s_naming_the_field(string extra, string param, string message)
    {
        var body = JsonNode.Parse("""{"model":"tiny-llama","messages":[{"role":"user","content":"x"}],"max_tokens":5}""")!.AsObject();
        foreach (var (key, value) in JsonNode.Parse(extra)!.AsObject()) body[key] = value?.DeepClone();
        var (status, error) = await PostAsync("/v1/chat/completions", body.ToJsonString());
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal(param, error!["error"]!["param"]!.GetValue<string>());
        Assert.Contains(message, error["error"]!["message"]!.GetValue<string>());
        Assert.Equal("invalid_request_error", error["error"]!["type"]!.GetValue<string>());
    }

    [Fact]
    public async Task Echo_prepends_the_prompt_streamed_and_not()
    {
        var (_, plain) = await PostAsync("/v1/completions", """{"model":"tiny-llama","prompt":"1 2 3","max_tokens":4,"temperature":0}""");
        var (_, echoed) = await PostAsync("/v1/completions", """{"model":"tiny-llama","prompt":"1 2 3","max_tokens":4,"temperature":0,"echo":true}""");
        var completion = plain!["choices"]![0]!["text"]!.GetValue<string>();
        // The prompt as the model saw it: BOS and all (vLLM decodes the prompt ids the same way).
        Assert.Equal("<|begin_of_text|>1 2 3" + completion, echoed!["choices"]![0]!["text"]!.GetValue<string>());

        using var response = await Server.Http.PostAsync(new Uri(Server.BaseUri, "/v1/completions"),
            new StringContent("""{"model":"tiny-llama","prompt":"1 2 3","max_tokens":4,"temperature":0,"echo":true,"stream":true}""", Encoding.UTF8, "application/json"));
        var events = (await response.Content.ReadAsStringAsync()).Split("\n\n", StringSplitOptions.RemoveEmptyEntries)[..^1];
        Assert.Equal(echoed["choices"]![0]!["text"]!.GetValue<string>(), string.Concat(events.Select(e => JsonNode.Parse(e["data: ".Length..])!["choices"]![0]!["text"]!.GetValue<string>())));

    }

    /// <summary>echo with logprobs scores the prompt too (vLLM's prompt_logprobs): the first prompt token has none, and
    /// each later one has the logprob the model gives it after the tokens before it — the same number a completion of
    /// that prefix reports for it.</summary>
    [Fact]
    public async Task Echo_with_logprobs_scores_the_prompt_tokens()
    {
        var (_, tokenized) = await PostAsync("/tokenize", """{"model":"tiny-llama","prompt":"1 2 3"}""");
        var ids = tokenized!["tokens"]!.AsArray().Select(t => t!.GetValue<int>()).ToList();
        var (status, body) = await PostAsync("/v1/completions", """{"model":"tiny-llama","prompt":"1 2 3","max_tokens":3,"temperature":0,"ignore_eos":true,"echo":true,"logprobs":2}""");
        Assert.Equal(HttpStatusCode.OK, status);
        var lp = body!["choices"]![0]!["logprobs"]!;
        var tokenLogprobs = lp["token_logprobs"]!.AsArray();
        Assert.Equal(ids.Count + 3, tokenLogprobs.Count);
        Assert.Null(tokenLogprobs[0]);
        Assert.Null(lp["top_logprobs"]![0]);
        Assert.Equal(body["choices"]![0]!["text"]!.GetValue<string>(), string.Concat(lp["tokens"]!.AsArray().Select(t => t!.GetValue<string>())));
        for (var k = 1; k < ids.Count; k++)
        {
            // The model's raw logprob of prompt token k after tokens 0..k-1 (logit_bias forces it; logprobs are raw).
            var prefix = string.Join(",", ids.Take(k));
            var (_, single) = await PostAsync("/v1/completions", $$$"""{"model":"tiny-llama","prompt":[{{{prefix}}}],"max_tokens":1,"temperature":0,"logprobs":0,"logit_bias":{"{{{ids[k]}}}":100}}""");
            var expected = single!["choices"]![0]!["logprobs"]!["token_logprobs"]![0]!.GetValue<double>();
            Assert.Equal(expected, tokenLogprobs[k]!.GetValue<double>(), 3);
        }

        using var response = await Server.Http.PostAsync(new Uri(Server.BaseUri, "/v1/completions"),
            new StringContent("""{"model":"tiny-llama","prompt":"1 2 3","max_tokens":3,"temperature":0,"ignore_eos":true,"echo":true,"logprobs":2,"stream":true}""", Encoding.UTF8, "application/json"));
        var chunks = (await response.Content.ReadAsStringAsync()).Split("\n\n", StringSplitOptions.RemoveEmptyEntries)[..^1].Select(e => JsonNode.Parse(e["data: ".Length..])!["choices"]![0]!).ToList();
        Assert.Equal(body["choices"]![0]!["text"]!.GetValue<string>(), string.Concat(chunks.Select(c => c["text"]!.GetValue<string>())));
        Assert.Equal(ids.Count + 3, chunks.Where(c => c["logprobs"] is JsonObject).Sum(c => c["logprobs"]!["tokens"]!.AsArray().Count));
    }

    [Fact]
    public async Task Best_of_returns_the_likeliest_of_its_sequences()
    {
        const string request = """{"model":"tiny-llama","prompt":"1 2","max_tokens":5,"seed":3,"ignore_eos":true,"logprobs":0""";
        var (_, four) = await PostAsync("/v1/completions", request + ""","n":4}""");
        var (_, best) = await PostAsync("/v1/completions", request + ""","n":1,"best_of":4}""");
        // Same seeds (seed + i), so best_of's candidates are the four choices of n=4; it returns the one whose
        // tokens' logprobs sum highest, and bills every sequence.
        var sums = four!["choices"]!.AsArray().Select(c => (Text: c!["text"]!.GetValue<string>(), Sum: c["logprobs"]!["token_logprobs"]!.AsArray().Sum(l => l!.GetValue<double>()))).ToList();
        var chosen = Assert.Single(best!["choices"]!.AsArray());
        Assert.Equal(sums.MaxBy(s => s.Sum).Text, chosen!["text"]!.GetValue<string>());
        Assert.Equal(20, best["usage"]!["completion_tokens"]!.GetValue<int>());
    }

    [Fact]
    public async Task Required_and_named_tool_choices_give_valid_calls()
    {
        const string tools = """[{"type":"function","function":{"name":"get_weather","description":"Weather in a city","parameters":{"type":"object","properties":{"city":{"type":"string","maxLength":12},"unit":{"enum":["c","f"]}},"required":["city","unit"]}}},{"type":"function","function":{"name":"add","parameters":{"type":"object","properties":{"a":{"type":"integer","minimum":-99,"maximum":99},"b":{"type":"integer","minimum":0,"maximum":999}},"required":["a","b"]}}}]""";
        var names = new HashSet<string>();
        var finishes = new List<string>();
        for (var seed = 0; seed < 12; seed++)
        {
            var (status, body) = await PostAsync("/v1/chat/completions", $$"""{"model":"tiny-llama","messages":[{"role":"user","content":"weather?"}],"max_tokens":300,"seed":{{seed}},"tools":{{tools}},"tool_choice":"required"}""");
            Assert.Equal(HttpStatusCode.OK, status);
            var choice = body!["choices"]![0]!;
            finishes.Add(choice["finish_reason"]!.GetValue<string>() + ": " + choice["message"]!.ToJsonString());
            if (choice["finish_reason"]!.GetValue<string>() == "length") continue;
            Assert.Equal("tool_calls", choice["finish_reason"]!.GetValue<string>());
            var calls = choice["message"]!["tool_calls"]!.AsArray();
            Assert.NotEmpty(calls);
            foreach (var call in calls)
            {
                Assert.StartsWith("chatcmpl-tool-", call!["id"]!.GetValue<string>());
                Assert.Equal("function", call["type"]!.GetValue<string>());
                var name = call["function"]!["name"]!.GetValue<string>();
                names.Add(name);
                var args = call["function"]!["arguments"]!.GetValue<string>();
                AssertValid(name == "add"
                    ? """{"type":"object","properties":{"a":{"type":"integer","minimum":-99,"maximum":99},"b":{"type":"integer","minimum":0,"maximum":999}},"required":["a","b"]}"""
                    : """{"type":"object","properties":{"city":{"type":"string","maxLength":12},"unit":{"enum":["c","f"]}},"required":["city","unit"]}""", args, $"seed {seed}");
            }
        }
        Assert.True(names.Order().SequenceEqual(["add", "get_weather"]), string.Join("\n", finishes));

        var (_, named) = await PostAsync("/v1/chat/completions", $$$"""{"model":"tiny-llama","messages":[{"role":"user","content":"1+2"}],"max_tokens":100,"seed":5,"tools":{{{tools}}},"tool_choice":{"type":"function","function":{"name":"add"}""" + "}}");
        var namedCall = Assert.Single(named!["choices"]![0]!["message"]!["tool_calls"]!.AsArray());
        Assert.Equal("add", namedCall!["function"]!["name"]!.GetValue<string>());
        var parsed = JsonNode.Parse(namedCall["function"]!["arguments"]!.GetValue<string>())!;
        Assert.Equal(JsonValueKind.Number, parsed["a"]!.GetValueKind());
        Assert.Equal("stop", named["choices"]![0]!["finish_reason"]!.GetValue<string>());
        Assert.Null(named["choices"]![0]!["message"]!["content"]);
    }

    [Fact]
    public async Task Streamed_named_tool_call_arguments_add_up_to_the_whole_call()
    {
        const string body = """{"model":"tiny-llama","messages":[{"role":"user","content":"1+2"}],"max_tokens":100,"seed":9,"tools":[{"type":"function","function":{"name":"add","parameters":{"type":"object","properties":{"a":{"type":"integer","minimum":-99,"maximum":99},"b":{"type":"integer","minimum":0,"maximum":999}},"required":["a","b"]}}}],"tool_choice":{"type":"function","function":{"name":"add"}}""";
        var (_, whole) = await PostAsync("/v1/chat/completions", body + "}");
        using var response = await Server.Http.PostAsync(new Uri(Server.BaseUri, "/v1/chat/completions"), new StringContent(body + ""","stream":true}""", Encoding.UTF8, "application/json"));
        var chunks = (await response.Content.ReadAsStringAsync()).Split("\n\n", StringSplitOptions.RemoveEmptyEntries)[..^1].Select(e => JsonNode.Parse(e["data: ".Length..])!).ToList();
        var deltas = chunks.Select(c => c["choices"]![0]!["delta"]!["tool_calls"]).OfType<JsonArray>().SelectMany(a => a).ToList();
        Assert.Equal("add", deltas[0]!["function"]!["name"]!.GetValue<string>());
        Assert.NotNull(deltas[0]!["id"]);
        Assert.True(deltas.Count > 2, "arguments should stream in several deltas");
        var arguments = string.Concat(deltas.Select(d => d!["function"]!["arguments"]?.GetValue<string>() ?? ""));
        Assert.Equal(whole!["choices"]![0]!["message"]!["tool_calls"]![0]!["function"]!["arguments"]!.GetValue<string>(), arguments);
        Assert.Equal("stop", chunks[^1]["choices"]![0]!["finish_reason"]!.GetValue<string>());
    }
}

/// <summary>tool_choice auto with the Hermes format chosen by the setting (the example's template shows none): the
/// random model is steered into a &lt;tool_call&gt; block by a regex constraint, and the server parses it out.</summary>
[Trait("Category", "Slow")]
public class AutoToolCallTests
{
    private const string Tools = """[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}]""";
    private const string HermesRegex = """Let me check\\.\n<tool_call>\n\\{\"name\": \"get_weather\", \"arguments\": \\{\"city\": \"[a-z]{1,8}\"\\}\\}\n</tool_call>""";

    [Fact]
    public async Task Hermes_calls_are_parsed_from_the_output_streamed_and_not()
    {
        await using var server = await RunningServer.StartAsync(new Dictionary<string, string> { ["BENTO_TOOL_CALL_PARSER"] = "hermes" });
        var health = JsonNode.Parse(await server.Http.GetStringAsync(new Uri(server.BaseUri, "/health")))!;
        Assert.Equal("hermes", health["settings"]!["tool_call_parser"]!["value"]!.GetValue<string>());
        Assert.Equal("env", health["settings"]!["tool_call_parser"]!["source"]!.GetValue<string>());

        var request = $$"""{"model":"tiny-llama","messages":[{"role":"user","content":"weather in paris?"}],"max_tokens":250,"seed":2,"tools":{{Tools}},"guided_regex":"{{HermesRegex}}" """;
        using var response = await server.Http.PostAsync(new Uri(server.BaseUri, "/v1/chat/completions"), new StringContent(request + "}", Encoding.UTF8, "application/json"));
        var body = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        Assert.True(response.IsSuccessStatusCode, body.ToJsonString());
        var message = body["choices"]![0]!["message"]!;
        Assert.True(message["content"]?.GetValue<string>() == "Let me check.\n", body.ToJsonString());
        var call = Assert.Single(message["tool_calls"]!.AsArray())!;
        Assert.Equal("get_weather", call["function"]!["name"]!.GetValue<string>());
        Assert.Matches("^\\{\"city\":\"[a-z]{1,8}\"\\}$", call["function"]!["arguments"]!.GetValue<string>());
        Assert.Equal("tool_calls", body["choices"]![0]!["finish_reason"]!.GetValue<string>());

        using var streamed = await server.Http.PostAsync(new Uri(server.BaseUri, "/v1/chat/completions"), new StringContent(request + ""","stream":true}""", Encoding.UTF8, "application/json"));
        var chunks = (await streamed.Content.ReadAsStringAsync()).Split("\n\n", StringSplitOptions.RemoveEmptyEntries)[..^1].Select(e => JsonNode.Parse(e["data: ".Length..])!["choices"]![0]!).ToList();
        Assert.Equal("Let me check.\n", string.Concat(chunks.Select(c => c["delta"]!["content"]?.GetValue<string>() ?? "")));
        Assert.DoesNotContain(chunks, c => (c["delta"]!["content"]?.GetValue<string>() ?? "").Contains('<'));
        var streamedCall = Assert.Single(chunks.Select(c => c["delta"]!["tool_calls"]).OfType<JsonArray>().SelectMany(a => a))!;
        Assert.Equal(call["function"]!["arguments"]!.GetValue<string>(), streamedCall["function"]!["arguments"]!.GetValue<string>());
        Assert.Equal(0, streamedCall["index"]!.GetValue<int>());
        Assert.Equal("tool_calls", chunks[^1]["finish_reason"]!.GetValue<string>());

        // tool_choice none: the same output stays content.
        var (none, noneBody) = await PostJson(server, request.Replace("\"tools\":", "\"tool_choice\":\"none\",\"tools\":") + "}");
        Assert.Equal(HttpStatusCode.OK, none);
        Assert.StartsWith("Let me check.\n<tool_call>", noneBody!["choices"]![0]!["message"]!["content"]!.GetValue<string>());
        Assert.Null(noneBody["choices"]![0]!["message"]!["tool_calls"]);
    }

    private static async Task<(HttpStatusCode, JsonNode?)> PostJson(RunningServer server, string json)
    {
        using var response = await server.Http.PostAsync(new Uri(server.BaseUri, "/v1/chat/completions"), new StringContent(json, Encoding.UTF8, "application/json"));
        return (response.StatusCode, JsonNode.Parse(await response.Content.ReadAsStringAsync()));
    }

    [Fact]
    public async Task Generation_config_defaults_apply_and_request_fields_win()
    {
        using var project = new TempDirectory();
        foreach (var file in Directory.EnumerateFiles(Repo.ExampleDirectory)) File.Copy(file, Path.Combine(project.Path, Path.GetFileName(file)));
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(project.Path, "generation_config.json")))!.AsObject();
        config["temperature"] = 0.0;
        config["max_new_tokens"] = 3;
        File.WriteAllText(Path.Combine(project.Path, "generation_config.json"), config.ToJsonString());
        await using var server = await RunningServer.StartAsync(projectDirectory: project.Path);
        const string chat = """{"model":"tiny-llama","messages":[{"role":"user","content":"1 2"}],"ignore_eos":true""";
        var (_, a) = await PostJson(server, chat + "}");
        var (_, b) = await PostJson(server, chat + "}");
        // max_new_tokens caps the default max_tokens; temperature 0 makes the default greedy.
        Assert.Equal(3, a!["usage"]!["completion_tokens"]!.GetValue<int>());
        Assert.Equal(a["choices"]![0]!["message"]!["content"]!.GetValue<string>(), b!["choices"]![0]!["message"]!["content"]!.GetValue<string>());
        var (_, longer) = await PostJson(server, chat + ""","max_tokens":6}""");
        Assert.Equal(6, longer!["usage"]!["completion_tokens"]!.GetValue<int>());
        // A request's own temperature wins: different seeds now give different texts.
        var texts = new HashSet<string>();
        for (var seed = 0; seed < 4; seed++)
        {
            var (_, sampled) = await PostJson(server, chat + $$""","max_tokens":6,"temperature":1.5,"seed":{{seed}}}""");
            texts.Add(sampled!["choices"]![0]!["message"]!["content"]!.GetValue<string>());
        }
        Assert.True(texts.Count > 1);
    }
}
