using Bento.Runtime.Engine;

namespace Bento.Runtime.Tests.Engine;

public class LlmEngineTests
{
    private static readonly CharTokenizer Tokenizer = new(stopIds: 63);

    private static async Task<(string Text, GenerationFinished End, List<int> Ids)> RunAsync(LlmEngine engine, string prompt, SamplingParams p, CancellationToken ct = default)
    {
        var reader = engine.Submit(new GenerationRequest(Guid.NewGuid().ToString(), Tokenizer.Encode(prompt, false), p), ct);
        var text = new System.Text.StringBuilder();
        var ids = new List<int>();
        GenerationFinished? end = null;
        await foreach (var e in reader.ReadAllAsync(CancellationToken.None))
        {
            switch (e)
            {
                case TokenGenerated t: text.Append(t.TextDelta); ids.Add(t.TokenId); break;
                case GenerationFinished f: text.Append(f.TextDelta); end = f; break;
            }
        }
        return (text.ToString(), end!, ids);
    }

    private static SamplingParams Greedy(int max) => new() { MaxTokens = max, Temperature = 0 };

    [Fact]
    public async Task Greedy_decoding_follows_the_model_and_stops_at_max_tokens()
    {
        using var engine = new LlmEngine(new ScriptedRunner(), Tokenizer, new EngineOptions { MaxModelLen = 128 });
        var (text, end, _) = await RunAsync(engine, "123", Greedy(5));
        Assert.Equal("45678", text);
        Assert.Equal(FinishReason.Length, end.Reason);
        Assert.Equal(3, end.PromptTokens);
        Assert.Equal(5, end.CompletionTokens);
    }

    [Fact]
    public async Task Eos_stops_generation_and_is_not_part_of_the_text()
    {
        using var engine = new LlmEngine(new ScriptedRunner { EosId = 63, EosAfter = 5 }, Tokenizer, new EngineOptions());
        var (text, end, ids) = await RunAsync(engine, "12", Greedy(20));
        Assert.Equal("345", text);
        Assert.Equal(63, ids[^1]);
        Assert.Equal(FinishReason.Stop, end.Reason);
    }

    [Fact]
    public async Task Ignore_eos_and_min_tokens_keep_generating()
    {
        using var engine = new LlmEngine(new ScriptedRunner { EosId = 63, EosAfter = 5 }, Tokenizer, new EngineOptions());
        var ignore = await RunAsync(engine, "12", Greedy(8) with { IgnoreEos = true });
        Assert.Equal(FinishReason.Length, ignore.End.Reason);
        Assert.Equal(8, ignore.End.CompletionTokens);

        // min_tokens masks EOS: the runner's second choice (EOS + 1 wraps to 0) is taken instead.
        var min = await RunAsync(engine, "12", Greedy(8) with { MinTokens = 6 });
        Assert.True(min.End.CompletionTokens >= 6);
        Assert.DoesNotContain(63, min.Ids.Take(5));
    }

    [Fact]
    public async Task Stop_strings_cut_the_text_and_are_reported()
    {
        using var engine = new LlmEngine(new ScriptedRunner(), Tokenizer, new EngineOptions());
        var (text, end, _) = await RunAsync(engine, "a", Greedy(20) with { Stop = ["fgh", "zzz"] });
        Assert.Equal("bcde", text);
        Assert.Equal(FinishReason.Stop, end.Reason);
        Assert.Equal("fgh", end.MatchedStop);
    }

    [Fact]
    public async Task A_possible_stop_prefix_is_held_back_until_it_resolves()
    {
        using var engine = new LlmEngine(new ScriptedRunner(), Tokenizer, new EngineOptions());
        var reader = engine.Submit(new GenerationRequest("r", Tokenizer.Encode("a", false), Greedy(6) with { Stop = ["cdX"] }), default);
        var deltas = new List<string>();
        await foreach (var e in reader.ReadAllAsync()) deltas.Add(e is TokenGenerated t ? t.TextDelta : ((GenerationFinished)e).TextDelta);
        // "c" and "cd" could start "cdX": held back, then released when "e" arrives.
        Assert.Equal(["b", "", "", "cde", "f", "g", ""], deltas);
    }

    [Fact]
    public async Task Requests_join_running_batches_and_decode_together()
    {
        using var hold = new ManualResetEventSlim(false);
        var runner = new ScriptedRunner() { StepDelay = TimeSpan.FromMilliseconds(2), Hold = hold, HoldAfterSteps = 3 };
        using var engine = new LlmEngine(runner, Tokenizer, new EngineOptions { MaxNumSeqs = 8 });
        // The first request must still be decoding when the others arrive: the runner holds it after 3 steps until
        // they are submitted (a fixed delay, or racing its 60 steps, failed on a loaded machine).
        var first = RunAsync(engine, "1", Greedy(60));
        while (runner.Steps.Count < 3) await Task.Delay(1);
        var others = Enumerable.Range(0, 7).Select(i => RunAsync(engine, "abc", Greedy(10))).ToList();
        hold.Set();
        var results = await Task.WhenAll(others.Prepend(first));
        Assert.All(results, r => Assert.Equal(FinishReason.Length, r.End.Reason));
        Assert.Equal("defghijklm", results[1].Text);
        List<IReadOnlyList<Bento.Runtime.Model.StepInput>> steps;
        lock (runner.Steps) steps = runner.Steps.ToList();
        // Continuous batching: a step carried several decodes at once, and a prefill ran beside decodes.
        Assert.Contains(steps, s => s.Count(i => i.Tokens.Length == 1) >= 4);
        Assert.Contains(steps, s => s.Any(i => i.Tokens.Length == 3) && s.Any(i => i.Tokens.Length == 1));
        Assert.NotEqual(Environment.CurrentManagedThreadId, runner.ThreadId);
    }

    [Fact]
    public async Task Long_prompts_are_prefilled_in_chunks_at_the_right_positions()
    {
        var runner = new ScriptedRunner(maxLen: 256);
        using var engine = new LlmEngine(runner, Tokenizer, new EngineOptions { MaxBatchedTokens = 32, MaxModelLen = 256 });
        var prompt = new string('a', 100);
        var (_, end, _) = await RunAsync(engine, prompt, Greedy(2));
        Assert.Equal(100, end.PromptTokens);
        var prefill = runner.Steps.Select(s => s.Single()).Where(i => i.Tokens.Length > 1 || i.Position < 100).ToList();
        Assert.Equal([0, 32, 64, 96], prefill.Select(i => i.Position));
        Assert.Equal([32, 32, 32, 4], prefill.Select(i => i.Tokens.Length));
    }

    [Fact]
    public async Task Cancelling_a_request_frees_its_blocks()
    {
        var runner = new ScriptedRunner() { StepDelay = TimeSpan.FromMilliseconds(5) };
        using var engine = new LlmEngine(runner, Tokenizer, new EngineOptions { MaxNumSeqs = 1, MaxModelLen = 128 });
        using var cts = new CancellationTokenSource();
        var reader = engine.Submit(new GenerationRequest("a", Tokenizer.Encode("1", false), Greedy(100)), cts.Token);
        await reader.ReadAsync();
        cts.Cancel();
        GenerationFinished? end = null;
        await foreach (var e in reader.ReadAllAsync()) if (e is GenerationFinished f) end = f;
        Assert.Equal(FinishReason.Abort, end!.Reason);
        Assert.True(end.CompletionTokens < 100);
        // The only place is free again: the next request completes, and no block stays referenced.
        var (_, next, _) = await RunAsync(engine, "1", Greedy(3));
        Assert.Equal(FinishReason.Length, next.Reason);
        Assert.Equal(0, engine.Stats.Running);
        Assert.Equal(0, engine.Stats.KvBlocksUsed);
    }

    [Fact]
    public async Task A_full_queue_rejects_instead_of_growing()
    {
        var runner = new ScriptedRunner() { StepDelay = TimeSpan.FromMilliseconds(20) };
        using var engine = new LlmEngine(runner, Tokenizer, new EngineOptions { MaxNumSeqs = 1, MaxWaiting = 1, MaxModelLen = 128 });
        var a = RunAsync(engine, "1", Greedy(5));
        var b = RunAsync(engine, "1", Greedy(5));
        Assert.Throws<EngineOverloadedException>(() => engine.Submit(new GenerationRequest("c", [1], Greedy(5)), default));
        await Task.WhenAll(a, b);
        var (_, after, _) = await RunAsync(engine, "1", Greedy(1));
        Assert.Equal(FinishReason.Length, after.Reason);
    }

    [Theory]
    [InlineData(0, 1f, "max_tokens must be at least 1")]
    [InlineData(200, 1f, "maximum context length is 128 tokens; you requested 203 tokens")]
    [InlineData(5, float.NaN, "temperature must be between 0 and 100")]
    [InlineData(5, -1f, "temperature must be between 0 and 100")]
    public void Impossible_requests_are_rejected_up_front(int maxTokens, float temperature, string message)
    {
        using var engine = new LlmEngine(new ScriptedRunner(), Tokenizer, new EngineOptions { MaxModelLen = 128 });
        var e = Assert.Throws<InvalidRequestException>(() =>
            engine.Submit(new GenerationRequest("x", [1, 2, 3], new SamplingParams { MaxTokens = maxTokens, Temperature = temperature }), default));
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public async Task Seeded_sampling_is_repeatable()
    {
        using var engine = new LlmEngine(new ScriptedRunner(), Tokenizer, new EngineOptions());
        var p = new SamplingParams { MaxTokens = 12, Temperature = 5f, Seed = 1234 };
        var a = await RunAsync(engine, "1", p);
        var b = await RunAsync(engine, "1", p);
        Assert.Equal(a.Ids, b.Ids);
    }

    [Fact]
    public void Sampler_respects_top_k_and_top_p()
    {
        var logits = new float[] { 5f, 4.9f, 1f, 0.5f, -3f };
        var random = new Random(7);
        var topK = Enumerable.Range(0, 200).Select(_ => Sampler.Sample(logits, new SamplingParams { Temperature = 1, TopK = 2 }, random, null)).ToHashSet();
        Assert.Subset(new HashSet<int> { 0, 1 }, topK);
        var topP = Enumerable.Range(0, 200).Select(_ => Sampler.Sample(logits, new SamplingParams { Temperature = 1, TopP = 0.5f }, random, null)).ToHashSet();
        Assert.Equal(new HashSet<int> { 0 }, topP);
        Assert.Equal(1, Sampler.Sample(logits, new SamplingParams { Temperature = 0 }, random, new HashSet<int> { 0 }));
    }
}
