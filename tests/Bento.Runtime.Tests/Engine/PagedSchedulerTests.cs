using System.Collections.Concurrent;
using Bento.Runtime.Engine;

namespace Bento.Runtime.Tests.Engine;

/// <summary>
/// The scheduler over the paged KV cache, against <see cref="ScriptedRunner"/>'s real block store with its
/// context-hash model: every output token depends on the whole context as read back through the block tables, so a
/// prefix hit, a preemption or an eviction that served wrong cache contents would change the text.
/// </summary>
public sealed class PagedSchedulerTests
{
    private const int B = KvCacheManager.BlockSize;
    private static readonly CharTokenizer Tokenizer = new();

    private sealed class Recorder : IEngineObserver
    {
        public long Queried, Hits, Preemptions, PromptTokens;
        public void PrefixCacheQueried(int queried, int hits)
        {
            Interlocked.Add(ref Queried, queried);
            Interlocked.Add(ref Hits, hits);
        }
        public void Preempted() => Interlocked.Increment(ref Preemptions);
        public void PromptProcessed(int tokens) => Interlocked.Add(ref PromptTokens, tokens);
    }

    private static int[] Prompt(int length, int seed) => Enumerable.Range(0, length).Select(i => (i * 13 + seed * 7 + 1) % 60).ToArray();

    private static SamplingParams Greedy(int max) => new() { MaxTokens = max, Temperature = 0 };

    /// <summary>What greedy decoding of the runner's model gives for <paramref name="prompt"/>, computed without any cache.</summary>
    private static List<int> Expected(ScriptedRunner runner, IReadOnlyList<int> prompt, int tokens)
    {
        var context = prompt.ToList();
        var output = new List<int>();
        for (var i = 0; i < tokens; i++)
        {
            var next = runner.Next(context);
            output.Add(next);
            context.Add(next);
        }
        return output;
    }

    private static ChannelReaderResult Submit(LlmEngine engine, int[] prompt, SamplingParams p, CancellationToken ct = default) =>
        new(engine.Submit(new GenerationRequest(Guid.NewGuid().ToString("N"), prompt, p), ct));

    private sealed record ChannelReaderResult(System.Threading.Channels.ChannelReader<GenerationEvent> Reader)
    {
        public async Task<(List<int> Ids, GenerationFinished End)> AllAsync()
        {
            var ids = new List<int>();
            GenerationFinished? end = null;
            await foreach (var e in Reader.ReadAllAsync())
                if (e is TokenGenerated t) ids.Add(t.TokenId);
                else if (e is GenerationFinished f) end = f;
            return (ids, end!);
        }
    }

    [Fact]
    public async Task A_repeated_prompt_takes_its_full_blocks_from_the_prefix_cache()
    {
        var runner = new ScriptedRunner(blocks: 64, maxLen: 256) { ContextModel = true };
        var recorder = new Recorder();
        using var engine = new LlmEngine(runner, Tokenizer, new EngineOptions { MaxModelLen = 256 }, recorder);
        var prompt = Prompt(40, 1);

        var first = await Submit(engine, prompt, Greedy(5)).AllAsync();
        var computed = runner.TokensComputed;
        Assert.Equal(40 + 4, computed);                               // the prompt, then 4 decode steps
        var second = await Submit(engine, prompt, Greedy(5)).AllAsync();

        Assert.Equal(Expected(runner, prompt, 5), first.Ids);
        Assert.Equal(first.Ids, second.Ids);
        Assert.Equal(8 + 4, runner.TokensComputed - computed);         // 2 full blocks (32 tokens) found: 8 prompt tokens computed
        Assert.Equal(80, recorder.Queried);
        Assert.Equal(32, recorder.Hits);
        Assert.Equal(80, recorder.PromptTokens);                       // prompt_tokens counts whole prompts, cached or not
    }

    [Fact]
    public async Task Requests_that_share_a_prompt_compute_its_full_blocks_once()
    {
        using var hold = new ManualResetEventSlim(false);
        var runner = new ScriptedRunner(blocks: 64, maxLen: 256) { ContextModel = true, Hold = hold, HoldAfterSteps = 0 };
        using var engine = new LlmEngine(runner, Tokenizer, new EngineOptions { MaxModelLen = 256 });
        var prompt = Prompt(50, 2);
        // Like the choices of one n = 4 request: submitted together, before any step ran.
        var choices = Enumerable.Range(0, 4).Select(_ => Submit(engine, prompt, Greedy(6))).ToList();
        hold.Set();
        var results = await Task.WhenAll(choices.Select(c => c.AllAsync()));

        var expected = Expected(runner, prompt, 6);
        Assert.All(results, r => Assert.Equal(expected, r.Ids));
        // 50 prompt tokens once, then 2 each for the other three (the partial last block is private), then 5 decode
        // steps per choice.
        Assert.Equal(50 + 3 * 2 + 4 * 5, runner.TokensComputed);
    }

    [Fact]
    public async Task Preempted_sequences_are_recomputed_and_give_the_same_greedy_output()
    {
        var prompts = Enumerable.Range(0, 4).Select(i => Prompt(20, 10 + i)).ToArray();
        const int max = 44;                                            // 64 tokens = 4 blocks each, 16 in all

        var roomy = new ScriptedRunner(blocks: 64, maxLen: 128) { ContextModel = true };
        var roomyRecorder = new Recorder();
        List<int>[] reference;
        using (var engine = new LlmEngine(roomy, Tokenizer, new EngineOptions { MaxNumSeqs = 4, MaxModelLen = 128 }, roomyRecorder))
            reference = (await Task.WhenAll(prompts.Select(p => Submit(engine, p, Greedy(max)).AllAsync()))).Select(r => r.Ids).ToArray();
        Assert.Equal(0, roomyRecorder.Preemptions);

        var tight = new ScriptedRunner(blocks: 10, maxLen: 128) { ContextModel = true };
        var recorder = new Recorder();
        using var tightEngine = new LlmEngine(tight, Tokenizer, new EngineOptions { MaxNumSeqs = 4, MaxModelLen = 128 }, recorder);
        var results = await Task.WhenAll(prompts.Select(p => Submit(tightEngine, p, Greedy(max)).AllAsync()));

        Assert.True(recorder.Preemptions > 0, "10 blocks for 16 blocks of demand must preempt");
        Assert.Equal(recorder.Preemptions, tightEngine.Stats.Preemptions);
        for (var i = 0; i < prompts.Length; i++)
        {
            Assert.Equal(FinishReason.Length, results[i].End.Reason);
            Assert.Equal(Expected(tight, prompts[i], max), results[i].Ids);
            Assert.Equal(reference[i], results[i].Ids);
        }
        await WaitIdleAsync(tightEngine);
        Assert.Equal(0, tightEngine.Stats.KvBlocksUsed);
    }

    /// <summary>Stats are published by the model thread after each step; wait for the one after the last finish.</summary>
    private static async Task WaitIdleAsync(LlmEngine engine)
    {
        for (var i = 0; i < 500 && (engine.Stats.KvBlocksUsed != 0 || engine.Stats.Running != 0); i++) await Task.Delay(10);
    }

    [Fact]
    public async Task Memory_admits_sequences_by_the_tokens_they_hold_not_by_max_model_len()
    {
        // 8 blocks hold one sequence of max_model_len 128: a slot cache would run one at a time.
        using var hold = new ManualResetEventSlim(false);
        var runner = new ScriptedRunner(blocks: 8, maxLen: 128) { Hold = hold, HoldAfterSteps = 0 };
        using var engine = new LlmEngine(runner, Tokenizer, new EngineOptions { MaxNumSeqs = 8, MaxModelLen = 128 });
        var requests = Enumerable.Range(0, 6).Select(i => Submit(engine, Prompt(5, i), Greedy(8))).ToList();
        hold.Set();
        var results = await Task.WhenAll(requests.Select(r => r.AllAsync()));
        Assert.All(results, r => Assert.Equal(FinishReason.Length, r.End.Reason));
        List<IReadOnlyList<Bento.Runtime.Model.StepInput>> steps;
        lock (runner.Steps) steps = runner.Steps.ToList();
        Assert.Contains(steps, s => s.Count == 6 && s.All(i => i.Tokens.Length == 1));
    }

    [Fact]
    public async Task Memory_pressure_alone_never_refuses_a_request()
    {
        var runner = new ScriptedRunner(blocks: 6, maxLen: 96) { ContextModel = true };
        var recorder = new Recorder();
        using var engine = new LlmEngine(runner, Tokenizer, new EngineOptions { MaxNumSeqs = 8, MaxModelLen = 96 }, recorder);
        var prompts = Enumerable.Range(0, 20).Select(i => Prompt(30, 40 + i)).ToArray();
        var results = await Task.WhenAll(prompts.Select(p => Submit(engine, p, Greedy(30)).AllAsync()));
        for (var i = 0; i < prompts.Length; i++)
            Assert.Equal(Expected(runner, prompts[i], 30), results[i].Ids);
        Assert.True(recorder.Preemptions > 0);
    }

    [Fact]
    public async Task A_client_that_goes_away_mid_stream_releases_its_blocks()
    {
        var runner = new ScriptedRunner(blocks: 16, maxLen: 128) { StepDelay = TimeSpan.FromMilliseconds(5) };
        using var engine = new LlmEngine(runner, Tokenizer, new EngineOptions { MaxModelLen = 128 });
        using var cts = new CancellationTokenSource();
        var reader = engine.Submit(new GenerationRequest("gone", Prompt(40, 3), Greedy(80)), cts.Token);
        await reader.ReadAsync();
        await reader.ReadAsync();
        Assert.True(engine.Stats.KvBlocksUsed >= 3, $"{engine.Stats.KvBlocksUsed} blocks in use mid-stream");
        cts.Cancel();
        GenerationFinished? end = null;
        await foreach (var e in reader.ReadAllAsync()) if (e is GenerationFinished f) end = f;
        Assert.Equal(FinishReason.Abort, end!.Reason);
        await WaitIdleAsync(engine);
        Assert.Equal(0, engine.Stats.KvBlocksUsed);
        Assert.Equal(0, engine.Stats.KvCacheUsage);
    }

    [Fact]
    public async Task A_burst_of_200_requests_is_answered_or_refused_and_nothing_is_lost()
    {
        var runner = new ScriptedRunner(blocks: 32, maxLen: 128) { StepDelay = TimeSpan.FromMilliseconds(1) };
        using var engine = new LlmEngine(runner, Tokenizer, new EngineOptions { MaxNumSeqs = 8, MaxWaiting = 40, MaxModelLen = 128 });
        var accepted = new ConcurrentBag<Task<(List<int> Ids, GenerationFinished End)>>();
        var refused = 0;
        Parallel.For(0, 200, i =>
        {
            try { accepted.Add(Submit(engine, Prompt(10, i), Greedy(6)).AllAsync()); }
            catch (EngineOverloadedException) { Interlocked.Increment(ref refused); }
        });
        var results = await Task.WhenAll(accepted);
        Assert.Equal(200, results.Length + refused);
        Assert.True(refused > 0 && results.Length >= 48, $"{results.Length} accepted, {refused} refused");
        Assert.All(results, r => Assert.Equal(6, r.Ids.Count));
        Assert.Null(engine.Fault);
        var after = await Submit(engine, Prompt(10, 1), Greedy(2)).AllAsync();
        Assert.Equal(FinishReason.Length, after.End.Reason);
        await WaitIdleAsync(engine);
        Assert.Equal(0, engine.Stats.Waiting);
    }

    [Fact]
    public void An_empty_prompt_is_refused_up_front_and_the_engine_lives()
    {
        using var engine = new LlmEngine(new ScriptedRunner(), Tokenizer, new EngineOptions());
        Assert.Equal("prompt", Assert.Throws<InvalidRequestException>(() => engine.Submit(new GenerationRequest("e", [], Greedy(3)), default)).Param);
        Assert.Null(engine.Fault);
    }
}
