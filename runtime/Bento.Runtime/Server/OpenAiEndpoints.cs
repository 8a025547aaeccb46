using Bento.Core.Serving;
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Bento.Runtime.Engine;

namespace Bento.Runtime.Server;

/// <summary>
/// vLLM's OpenAI-compatible surface: /v1/models, /v1/completions, /v1/chat/completions (with SSE streaming ending in
/// <c>data: [DONE]</c>), vLLM's /tokenize and /detokenize, /health, /ready and /metrics. A client disconnect cancels the request and frees its KV blocks.
/// </summary>
public static class OpenAiEndpoints
{
    private static readonly JsonSerializerOptions Compact = new() { WriteIndented = false };

    public static void Map(WebApplication app, ServingState state)
    {
        app.Use(async (ctx, next) =>
        {
            try
            {
                if (state.ApiKey is { } guard && IsProtected(ctx.Request.Path) &&
                    !guard.Allows(ctx.Request.Headers.Authorization.ToString()))
                    throw new ApiException(401, "Incorrect or missing API key; send 'Authorization: Bearer KEY'", "authentication_error", code: "invalid_api_key");
                await next(ctx);
            }
            catch (ApiException e) when (!ctx.Response.HasStarted)
            {
                if (e.Status == 503) ctx.Response.Headers.RetryAfter = "1";
                await WriteJson(ctx, e.Status, e.ToJson());
            }
            catch (OperationCanceledException) when (ctx.RequestAborted.IsCancellationRequested) { }
            catch (BadHttpRequestException e)
            {
                // Malformed HTTP (a body larger than its Content-Length says or than max_request_bytes, a bad chunk):
                // the client's fault, so a 4xx and one warning line, never a 500 with a stack trace.
                ctx.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("bento")
                    .LogWarning("{Method} {Path}: {Status} {Message}", ctx.Request.Method, ctx.Request.Path.Value, e.StatusCode, e.Message);
                if (!ctx.Response.HasStarted)
                {
                    ctx.Response.Headers.Connection = "close";
                    await WriteJson(ctx, e.StatusCode, ApiException.Body(e.Message, "invalid_request_error",
                        code: e.StatusCode == StatusCodes.Status413PayloadTooLarge ? "request_too_large" : "bad_request"));
                }
            }
            catch (Exception e) when (!ctx.Response.HasStarted && e is not OperationCanceledException)
            {
                ctx.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("bento").LogError(e, "request failed");
                await WriteJson(ctx, 500, ApiException.Body($"internal error: {e.Message}", "internal_error"));
            }
        });

        app.MapGet(ImageContract.HealthPath, (HttpContext ctx) => WriteJson(ctx, state.LoadError is null && state.Model?.Engine.Fault is null ? 200 : 503, Health(state)));
        app.MapGet(ImageContract.ReadyPath, (HttpContext ctx) =>
            // Not ready while draining either, so a load balancer stops sending before the server stops answering.
            state.Model is not null && state.Model.Engine.Fault is null && !state.Draining
                ? WriteJson(ctx, 200, new JsonObject { ["ready"] = true })
                : WriteJson(ctx, 503, new JsonObject
                {
                    ["ready"] = false,
                    ["error"] = state.LoadError?.Message ?? state.Model?.Engine.Fault?.Message ?? (state.Draining ? "shutting down" : "loading the model"),
                }));
        app.MapGet(ImageContract.MetricsPath, async (HttpContext ctx) =>
        {
            ctx.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
            var stats = state.Model?.Engine.Stats ?? new EngineStats(0, 0, 0, 0);
            await state.Metrics.ExportAsync(stats, ctx.Response.Body, ctx.RequestAborted);
        });
        app.MapGet("/v1/models", (HttpContext ctx) => WriteJson(ctx, 200, new JsonObject
        {
            ["object"] = "list",
            ["data"] = new JsonArray(new JsonObject
            {
                ["id"] = state.ModelName,
                ["object"] = "model",
                ["created"] = state.Created.ToUnixTimeSeconds(),
                ["owned_by"] = "bentobuilder",
                ["root"] = state.BentoTag,
                ["max_model_len"] = state.MaxModelLen,
            }),
        }));
        app.MapPost("/tokenize", async (HttpContext ctx) =>
        {
            var model = Loaded(state);
            var fields = await JsonFields.ReadAsync(ctx.Request, ctx.RequestAborted);
            var (name, tokens) = OpenAiRequestParser.Tokenize(fields, model.Tokenizer, model.Chat, model.Engine.Options.MaxModelLen);
            RequireServedModel(state, name);
            var body = new JsonObject
            {
                ["count"] = tokens.Count,
                ["max_model_len"] = model.Engine.Options.MaxModelLen,
                ["tokens"] = new JsonArray(tokens.Select(t => (JsonNode)t).ToArray()),
                ["token_strs"] = fields.Bool("return_token_strs") == true
                    ? new JsonArray(tokens.Select(t => (JsonNode?)model.Tokenizer.TokenText(t)).ToArray())
                    : null,
            };
            await WriteJson(ctx, 200, body);
        });
        app.MapPost("/detokenize", async (HttpContext ctx) =>
        {
            var model = Loaded(state);
            var (name, tokens) = OpenAiRequestParser.Detokenize(await JsonFields.ReadAsync(ctx.Request, ctx.RequestAborted), model.Tokenizer);
            RequireServedModel(state, name);
            await WriteJson(ctx, 200, new JsonObject { ["prompt"] = model.Tokenizer.Decode(tokens, skipSpecialTokens: false) });
        });
        app.MapPost("/v1/completions", (HttpContext ctx) => Generate(ctx, state, chat: false));
        app.MapPost("/v1/chat/completions", (HttpContext ctx) => Generate(ctx, state, chat: true));
    }

    /// <summary>What an API key guards: the OpenAI API and the tokenizer endpoints; not /health, /ready, /metrics.</summary>
    private static bool IsProtected(PathString path) =>
        path.StartsWithSegments("/v1") || path.StartsWithSegments("/tokenize") || path.StartsWithSegments("/detokenize");

    public static JsonObject Health(ServingState state)
    {
        var runner = state.Model?.Runner;
        var stats = state.Model?.Engine.Stats;
        var eager = (JsonObject)state.Settings["enforce_eager"]!.DeepClone();
        return new JsonObject
        {
            ["status"] = state.LoadError is not null ? "error" : state.Model is null ? "loading" : state.Model.Engine.Fault is not null ? "error" : "ok",
            ["ready"] = state.Model is not null && state.Model.Engine.Fault is null,
            ["model"] = state.ModelName,
            ["bento"] = state.BentoTag,
            ["error"] = state.LoadError?.Message ?? state.Model?.Engine.Fault?.Message,
            ["engine"] = new JsonObject
            {
                ["enforce_eager"] = eager,
                ["device"] = runner?.Device,
                ["dtype"] = runner?.Dtype,
                ["activation_dtype"] = runner?.ActivationDtype,
                ["quantization"] = runner?.Quantization,
                ["decode_kernel"] = runner?.DecodeKernel,
                ["weight_pages"] = runner?.WeightPages,
                ["cuda_graphs"] = new JsonObject
                {
                    ["enabled"] = runner?.CudaGraphs ?? false,
                    ["state"] = runner?.GraphState ?? "model not loaded yet",
                },
                ["weight_bytes"] = runner?.WeightBytes,
                ["kv_cache_bytes"] = runner?.KvCacheBytes,
                ["memory_plan"] = state.Plan?.ToJson(),
                ["running"] = stats?.Running ?? 0,
                ["waiting"] = stats?.Waiting ?? 0,
                ["kv_cache_usage"] = stats?.KvCacheUsage ?? 0,
                ["kv_cache"] = new JsonObject
                {
                    ["block_size"] = Bento.Runtime.Model.KvCache.BlockSize,
                    ["blocks"] = runner?.KvBlocks,
                    ["tokens"] = runner?.KvTokens,
                    ["blocks_in_use"] = stats?.KvBlocksUsed ?? 0,
                    ["blocks_cached"] = stats?.KvBlocksCached ?? 0,
                    ["preemptions"] = stats?.Preemptions ?? 0,
                },
            },
            ["settings"] = state.Settings.DeepClone(),
        };
    }

    private static async Task Generate(HttpContext ctx, ServingState state, bool chat)
    {
        if (state.Draining) throw new ApiException(503, "the server is shutting down; retry on another replica", "service_unavailable", code: "shutting_down");
        var model = Loaded(state);
        var fields = await JsonFields.ReadAsync(ctx.Request, ctx.RequestAborted);
        var request = chat
            ? OpenAiRequestParser.Chat(fields, model.Tokenizer, model.Chat, model.Engine.Options.MaxModelLen, model.Defaults)
            : OpenAiRequestParser.Completion(fields, model.Tokenizer, model.Engine.Options.MaxModelLen, model.Defaults);
        RequireServedModel(state, request.Model);

        if (request.N > model.Engine.Options.MaxNumSeqs)
            throw ApiException.BadRequest($"n is {request.N} but this server decodes at most {model.Engine.Options.MaxNumSeqs} sequences at once (max_num_seqs)", "n");
        if (request.BestOf > model.Engine.Options.MaxNumSeqs)
            throw ApiException.BadRequest($"best_of is {request.BestOf} but this server decodes at most {model.Engine.Options.MaxNumSeqs} sequences at once (max_num_seqs)", "best_of");
        var sequences = Math.Max(request.N, request.BestOf);
        // best_of ranks sequences by their cumulative logprob, so it needs the chosen tokens' logprobs.
        var submitted = sequences > request.N && request.Sampling.Logprobs is null ? request.Sampling with { Logprobs = 0 } : request.Sampling;

        var id = (chat ? "chatcmpl-" : "cmpl-") + Guid.NewGuid().ToString("N")[..24];
        var created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        // One sequence per choice; a failed submit or a gone client cancels all of them.
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(ctx.RequestAborted);
        var choices = new List<System.Threading.Channels.ChannelReader<GenerationEvent>>();
        try
        {
            for (var i = 0; i < sequences; i++)
            {
                // Choices differ but stay reproducible: choice i samples with seed + i.
                var sampling = submitted.Seed is { } seed && i > 0 ? submitted with { Seed = unchecked(seed + i) } : submitted;
                choices.Add(model.Engine.Submit(new GenerationRequest(sequences == 1 ? id : $"{id}-{i}", request.PromptTokens, sampling), cancel.Token));
            }
        }
        catch (Exception e) when (e is InvalidRequestException or EngineOverloadedException)
        {
            await cancel.CancelAsync();
            throw e is InvalidRequestException bad
                ? ApiException.BadRequest(bad.Message, bad.Param)
                : new ApiException(503, e.Message, "service_unavailable", code: "server_overloaded");
        }

        var shape = new ResponseShape(id, created, state.ModelName, chat);
        var outputs = Enumerable.Range(0, sequences).Select(_ => new ChoiceOutput(request, model.Tokenizer)).ToArray();
        var logprobs = request.Sampling.Logprobs is null ? null : Enumerable.Range(0, sequences).Select(_ => new LogprobsJson(model.Tokenizer, chat)).ToArray();
        var events = Merge(choices, ctx.RequestAborted);
        if (request.Stream) await StreamAsync(ctx, events, shape, outputs, request, logprobs);
        else await CompleteAsync(ctx, events, shape, outputs, request.N, logprobs);
    }

    /// <summary>The events of every choice, tagged with the choice's index, in the order they happen.</summary>
    private static System.Threading.Channels.ChannelReader<(int Index, GenerationEvent Event)> Merge(
        IReadOnlyList<System.Threading.Channels.ChannelReader<GenerationEvent>> choices, CancellationToken ct)
    {
        var merged = System.Threading.Channels.Channel.CreateUnbounded<(int, GenerationEvent)>(new() { SingleReader = true });
        var pumps = choices.Select(async (reader, index) =>
        {
            await foreach (var e in reader.ReadAllAsync(ct)) await merged.Writer.WriteAsync((index, e), ct);
        }).ToArray();
        _ = Task.WhenAll(pumps).ContinueWith(t => merged.Writer.TryComplete(t.Exception?.InnerException), TaskScheduler.Default);
        return merged.Reader;
    }

    private static LoadedModel Loaded(ServingState state) =>
        state.Model ?? throw new ApiException(503, state.LoadError is null ? "the model is still loading; retry shortly" : $"the model failed to load: {state.LoadError.Message}", "service_unavailable");

    private static void RequireServedModel(ServingState state, string model)
    {
        if (model != state.ModelName && model != state.BentoTag)
            throw new ApiException(404, $"The model '{model}' does not exist; this server serves '{state.ModelName}'", "invalid_request_error", "model", "model_not_found");
    }

    private static async Task CompleteAsync(HttpContext ctx, System.Threading.Channels.ChannelReader<(int Index, GenerationEvent Event)> events, ResponseShape shape,
        ChoiceOutput[] outputs, int n, LogprobsJson[]? logprobs)
    {
        await foreach (var (index, e) in events.ReadAllAsync(ctx.RequestAborted)) outputs[index].Add(e);
        if (outputs.Any(o => o.End is null || o.End.Reason == FinishReason.Abort)) return;
        // best_of: the n sequences with the highest cumulative logprob, in that order; usage counts every sequence.
        var returned = outputs.Length > n
            ? outputs.Select((o, i) => (o, i)).OrderByDescending(x => x.o.CumulativeLogprob).Take(n).ToList()
            : outputs.Select((o, i) => (o, i)).ToList();
        await WriteJson(ctx, 200, shape.Final(returned.Select(x => (x.o, logprobs?[x.i].For(x.o.Logprobs))).ToList(), outputs.Select(o => o.End!).ToList()));
    }

    /// <summary>
    /// SSE chunks as text becomes safe to send, each for one choice (its index). A token whose text is held back (part
    /// of a character, of a possible stop string or of a tool-call marker) sends no chunk; its logprobs ride on that
    /// choice's next chunk, so none is lost. Tool calls go out as OpenAI's tool_calls deltas (a named function's
    /// arguments as they are generated). The usage chunk, when asked for, comes once every choice has finished.
    /// </summary>
    private static async Task StreamAsync(HttpContext ctx, System.Threading.Channels.ChannelReader<(int Index, GenerationEvent Event)> events, ResponseShape shape,
        ChoiceOutput[] outputs, ParsedRequest request, LogprobsJson[]? logprobs)
    {
        var n = outputs.Length;
        var pending = Enumerable.Range(0, n).Select(_ => new List<(int, TokenLogprobs?)>()).ToArray();
        JsonObject? TakePending(int index)
        {
            if (logprobs is null || pending[index].Count == 0) return null;
            var node = logprobs[index].For(pending[index]);
            pending[index].Clear();
            return node;
        }
        ctx.Response.StatusCode = 200;
        ctx.Response.ContentType = "text/event-stream; charset=utf-8";
        ctx.Response.Headers.CacheControl = "no-cache";
        ctx.Response.Headers["X-Accel-Buffering"] = "no";
        var ct = ctx.RequestAborted;
        if (shape.Chat)
            for (var i = 0; i < n; i++) await Send(ctx, shape.Chunk(i, new JsonObject { ["role"] = "assistant", ["content"] = "" }, null), ct);
        else if (request.Echo is { Length: > 0 } echo && request.Sampling.PromptLogprobs is null)
            for (var i = 0; i < n; i++) await Send(ctx, shape.Chunk(i, null, null, echo), ct);
        var finished = new List<GenerationFinished>();
        await foreach (var (index, e) in events.ReadAllAsync(ct))
        {
            if (e is TokenGenerated { Logprobs: { } lp } withLogprobs) pending[index].Add((withLogprobs.TokenId, lp));
            if (e is GenerationFinished { Reason: FinishReason.Abort }) continue;
            var output = outputs[index];
            if (e is PromptScored scored)
            {
                // The echoed prompt goes out with its logprobs once the prefill has scored it.
                for (var k = 0; k < scored.Logprobs.Count; k++) pending[index].Add((request.PromptTokens[k], scored.Logprobs[k]));
                output.Add(e);
                await Send(ctx, shape.Chunk(index, null, null, request.Echo ?? "", TakePending(index)), ct);
                continue;
            }
            var (content, toolCalls) = output.Add(e);
            var end = e as GenerationFinished;
            if (end is null && content.Length == 0 && toolCalls is null) continue;
            JsonObject? delta = null;
            if (shape.Chat)
            {
                delta = new JsonObject();
                if (content.Length > 0) delta["content"] = content;
                if (toolCalls is not null) delta["tool_calls"] = toolCalls;
            }
            await Send(ctx, shape.Chunk(index, delta, end is null ? null : output.FinishReason, content, TakePending(index)), ct);
            if (end is not null) finished.Add(end);
        }
        if (request.IncludeUsage && finished.Count == n) await Send(ctx, shape.UsageChunk(finished), ct);
        await ctx.Response.WriteAsync("data: [DONE]\n\n", ct);
        await ctx.Response.Body.FlushAsync(ct);
    }

    private static async Task Send(HttpContext ctx, JsonObject chunk, CancellationToken ct)
    {
        await ctx.Response.WriteAsync("data: " + chunk.ToJsonString(Compact) + "\n\n", ct);
        await ctx.Response.Body.FlushAsync(ct);
    }

    /// <summary>
    /// A whole JSON answer with Content-Length, as vLLM sends it. Without it Kestrel falls back to chunked encoding,
    /// which node-fetch (under the openai npm client 4.x) rejects as "Premature close".
    /// </summary>
    public static Task WriteJson(HttpContext ctx, int status, JsonNode body)
    {
        var bytes = Encoding.UTF8.GetBytes(body.ToJsonString(Compact) + "\n");
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = "application/json";
        ctx.Response.ContentLength = bytes.Length;
        return ctx.Response.Body.WriteAsync(bytes, ctx.RequestAborted).AsTask();
    }

    /// <summary>Builds completion and chat.completion bodies and chunks in OpenAI's exact shapes.</summary>
    private sealed record ResponseShape(string Id, long Created, string Model, bool Chat)
    {
        private string Object(bool chunk) => Chat ? chunk ? "chat.completion.chunk" : "chat.completion" : "text_completion";

        private JsonObject Envelope(bool chunk, JsonArray choices) => new()
        {
            ["id"] = Id,
            ["object"] = Object(chunk),
            ["created"] = Created,
            ["model"] = Model,
            ["choices"] = choices,
        };

        /// <summary>The prompt once (the choices share it), and every choice's completion tokens.</summary>
        private static JsonObject Usage(IReadOnlyList<GenerationFinished> ends)
        {
            var prompt = ends[0].PromptTokens;
            var completion = ends.Sum(f => f.CompletionTokens);
            return new JsonObject { ["prompt_tokens"] = prompt, ["completion_tokens"] = completion, ["total_tokens"] = prompt + completion };
        }

        /// <param name="choices">The returned choices, in order, with their logprobs.</param>
        /// <param name="all">Every sequence generated (best_of may generate more than it returns); usage counts them all.</param>
        public JsonObject Final(IReadOnlyList<(ChoiceOutput Output, JsonObject? Logprobs)> choices, IReadOnlyList<GenerationFinished> all)
        {
            var array = new JsonArray();
            for (var i = 0; i < choices.Count; i++)
            {
                var (output, logprobs) = choices[i];
                var choice = new JsonObject { ["index"] = i };
                if (Chat)
                {
                    var message = new JsonObject { ["role"] = "assistant", ["content"] = output.Content };
                    if (output.ToolCallsJson() is { } calls) message["tool_calls"] = calls;
                    choice["message"] = message;
                }
                else choice["text"] = output.Content ?? "";
                choice["logprobs"] = logprobs;
                choice["finish_reason"] = output.FinishReason;
                choice["stop_reason"] = output.End!.MatchedStop;
                array.Add(choice);
            }
            var body = Envelope(false, array);
            body["usage"] = Usage(all);
            return body;
        }

        public JsonObject Chunk(int index, JsonObject? delta, string? finishReason, string text = "", JsonObject? logprobs = null)
        {
            var choice = new JsonObject { ["index"] = index };
            if (Chat) choice["delta"] = delta ?? new JsonObject();
            else choice["text"] = text;
            choice["logprobs"] = logprobs;
            choice["finish_reason"] = finishReason;
            return Envelope(true, new JsonArray(choice));
        }

        public JsonObject UsageChunk(IReadOnlyList<GenerationFinished> ends)
        {
            var body = Envelope(true, new JsonArray());
            body["usage"] = Usage(ends);
            return body;
        }
    }
}
