using System.Collections.Concurrent;
using System.Diagnostics;
using System.Threading.Channels;
using Bento.Runtime.Model;
using Bento.Runtime.Tokenization;

namespace Bento.Runtime.Engine;

/// <summary>
/// The engine: a scheduler with continuous batching over one model runner and a paged KV cache with automatic prefix
/// caching (vLLM's design). Requests join between steps and leave when they finish or their client goes away, which
/// releases their blocks at once. Memory is admitted by the tokens a sequence really holds (blocks of
/// <see cref="KvCacheManager.BlockSize"/>), not by max_model_len; a new sequence first takes the longest prefix of its
/// tokens the cache already holds (full blocks found by <see cref="BlockHash"/>), so a shared system prompt, the
/// choices of an <c>n &gt; 1</c> request or a conversation's earlier turns are computed once. When a running sequence
/// needs a block and none is free, the most recently admitted sequence is preempted (its blocks released) and later
/// recomputed from its tokens; requests are refused (503) only when the waiting queue itself is full. Every step runs
/// on one dedicated thread, because TorchSharp's inference-mode and dispose scopes are per thread; callers only touch
/// channels.
/// </summary>
public sealed class LlmEngine : IDisposable
{
    private readonly IModelRunner _runner;
    private readonly ITextTokenizer _tokenizer;
    private readonly EngineOptions _options;
    private readonly IEngineObserver _observer;
    private readonly KvCacheManager _kv;
    private readonly int _reserve;
    private readonly ConcurrentQueue<Sequence> _incoming = new();
    private readonly SemaphoreSlim _wake = new(0);
    private readonly LinkedList<Sequence> _waiting = new();
    private readonly List<Sequence> _running = [];
    private readonly Thread _thread;
    private readonly CancellationTokenSource _stop = new();
    private int _queued;
    private long _steps, _preemptions;
    private volatile EngineStats _stats;
    private Exception? _fault;

    public LlmEngine(IModelRunner runner, ITextTokenizer tokenizer, EngineOptions options, IEngineObserver? observer = null)
    {
        _runner = runner;
        _tokenizer = tokenizer;
        // A sequence must fit the cache alone (then preempting every other one always lets it go on).
        var maxModelLen = Math.Min(options.MaxModelLen, Math.Min(runner.MaxSequenceLength, runner.KvBlocks * KvCacheManager.BlockSize));
        _options = options with
        {
            MaxModelLen = maxModelLen,
            MaxBatchedTokens = Math.Max(options.MaxBatchedTokens, options.MaxNumSeqs),
        };
        _observer = observer ?? IEngineObserver.None;
        _kv = new KvCacheManager(runner.KvBlocks);
        // Admission keeps 1% of the blocks free for running sequences to grow into, so that admitting one more
        // sequence rarely costs a preemption a step later.
        _reserve = Math.Max(1, runner.KvBlocks / 100);
        _stats = new EngineStats(0, 0, 0, 0, 0, _kv.TotalBlocks);
        _thread = new Thread(Loop) { IsBackground = true, Name = "bento-model" };
        _thread.Start();
    }

    public EngineOptions Options => _options;
    public EngineStats Stats => _stats;
    /// <summary>Set if the model thread died; the server reports it on /health and /ready.</summary>
    public Exception? Fault => _fault;

    /// <summary>
    /// Queues a request and returns its event stream. Throws <see cref="InvalidRequestException"/> for requests that
    /// can never run and <see cref="EngineOverloadedException"/> when the waiting queue is full. Cancelling
    /// <paramref name="cancellation"/> (a client disconnect) removes the request and releases its KV blocks.
    /// </summary>
    public ChannelReader<GenerationEvent> Submit(GenerationRequest request, CancellationToken cancellation)
    {
        if (_fault is not null) throw new EngineOverloadedException($"the engine has stopped: {_fault.Message}");
        // Every step computes at least the last prompt token (its logits give the first output): nothing to compute is no request.
        if (request.PromptTokens.Count == 0) throw new InvalidRequestException("the prompt is empty; give at least one token", "prompt");
        request.Sampling.Validate(request.PromptTokens.Count, _options.MaxModelLen);
        if (request.PromptTokens.Any(t => t < 0 || t >= _runner.VocabSize))
            throw new InvalidRequestException($"prompt token ids must be between 0 and {_runner.VocabSize - 1}", "prompt");
        if (Interlocked.Increment(ref _queued) > _options.MaxWaiting + _options.MaxNumSeqs)
        {
            Interlocked.Decrement(ref _queued);
            throw new EngineOverloadedException($"the server is at capacity ({_options.MaxNumSeqs} running, {_options.MaxWaiting} waiting); retry later");
        }
        var channel = Channel.CreateUnbounded<GenerationEvent>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        var sequence = new Sequence(request, _tokenizer, channel.Writer, cancellation);
        _incoming.Enqueue(sequence);
        cancellation.Register(() => _wake.Release());
        _wake.Release();
        return channel.Reader;
    }

    private void Loop()
    {
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                while (_incoming.TryDequeue(out var s)) _waiting.AddLast(s);
                DropCancelled();
                if (_running.Count == 0 && _waiting.Count == 0)
                {
                    Publish();
                    _wake.Wait(_stop.Token);
                    continue;
                }
                Step();
                Publish();
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested) { }
        catch (Exception e)
        {
            _fault = e;
            foreach (var s in _running.Concat(_waiting).Concat(_incoming)) s.Output.TryComplete(e);
        }
    }

    private void DropCancelled()
    {
        for (var i = _running.Count - 1; i >= 0; i--)
            if (_running[i].Cancellation.IsCancellationRequested) Finish(_running[i], FinishReason.Abort, "");
        for (var node = _waiting.First; node is not null;)
        {
            var next = node.Next;
            if (node.Value.Cancellation.IsCancellationRequested) { _waiting.Remove(node); Finish(node.Value, FinishReason.Abort, ""); }
            node = next;
        }
    }

    /// <summary>
    /// Decides this step's work: every running sequence gets its next tokens (decodes first, one token each; then
    /// prefill chunks within the token budget), taking blocks as it goes and preempting the most recently admitted
    /// sequences when none are free; then, if nothing was preempted, waiting sequences are admitted in arrival order
    /// while there is budget, a free place among max_num_seqs and memory.
    /// </summary>
    private List<(Sequence Seq, int Take)> Schedule()
    {
        var scheduled = new List<(Sequence, int)>();
        var chosen = new HashSet<Sequence>();
        var budget = _options.MaxBatchedTokens;
        var preempted = false;
        foreach (var decoding in new[] { true, false })
        {
            for (var i = 0; i < _running.Count && budget > 0; i++)
            {
                var s = _running[i];
                if ((s.Remaining == 1) != decoding) continue;
                // Prompt logprobs need the logits after every prompt token, and the runner returns each input's last
                // row: such prompts go through one token per step.
                var take = s.ScoresPrompt ? 1 : Math.Min(s.Remaining, budget);
                while (!_kv.TryGrow(s.Blocks, s.Computed + take))
                {
                    // The newest sequence not yet given work this step makes room (vLLM's recompute preemption).
                    var victim = _running.LastOrDefault(v => v != s && !chosen.Contains(v)) ?? s;
                    var index = _running.IndexOf(victim);
                    Preempt(victim);
                    preempted = true;
                    if (victim == s) break;
                    if (index < i) i--;
                }
                if (!s.Running) { i--; continue; }
                scheduled.Add((s, take));
                chosen.Add(s);
                budget -= take;
            }
        }
        if (preempted) return scheduled;

        var pending = PendingBlocks();
        for (var node = _waiting.First; node is not null && budget > 0 && _running.Count < _options.MaxNumSeqs;)
        {
            var next = node.Next;
            var s = node.Value;
            var matched = s.ScoresPrompt ? 0 : _kv.MatchPrefix(s.Blocks, s.Tokens);
            // Another running sequence is computing this sequence's next block right now (the choices of one
            // request, or concurrent requests with one system prompt): wait for it rather than compute it twice.
            if (matched < (s.Tokens.Count - 1) / KvCacheManager.BlockSize && pending.Contains(s.Blocks.Hashes[matched]))
            {
                node = next;
                continue;
            }
            var hit = matched * KvCacheManager.BlockSize;
            var take = s.ScoresPrompt ? 1 : Math.Min(s.Tokens.Count - hit, budget);
            if (!_kv.TryAdmit(s.Blocks, matched, hit + take, _running.Count == 0 ? 0 : _reserve)) break;
            _observer.PrefixCacheQueried(s.Tokens.Count, hit);
            _waiting.Remove(node);
            s.Computed = hit;
            s.Running = true;
            _running.Add(s);
            scheduled.Add((s, take));
            budget -= take;
            AddPending(s, pending);
            node = next;
        }
        return scheduled;
    }

    /// <summary>Hashes of full blocks that running sequences are still computing.</summary>
    private HashSet<BlockHash> PendingBlocks()
    {
        var pending = new HashSet<BlockHash>();
        foreach (var s in _running)
            if (s.Remaining > 1) AddPending(s, pending);
        return pending;
    }

    private static void AddPending(Sequence s, HashSet<BlockHash> pending)
    {
        KvCacheManager.EnsureHashes(s.Blocks, s.Tokens);
        for (var b = s.Computed / KvCacheManager.BlockSize; b < s.Blocks.Hashes.Count; b++) pending.Add(s.Blocks.Hashes[b]);
    }

    private void Preempt(Sequence s)
    {
        _kv.Release(s.Blocks);
        s.Computed = 0;
        s.Running = false;
        s.Preemptions++;
        _running.Remove(s);
        _waiting.AddFirst(s);
        _preemptions++;
        _observer.Preempted();
    }

    /// <summary>One model step over the scheduled sequences; those that reached their last token sample the next one.</summary>
    private void Step()
    {
        var scheduled = Schedule();
        if (scheduled.Count == 0) return;
        var inputs = new StepInput[scheduled.Count];
        for (var i = 0; i < scheduled.Count; i++)
        {
            var (s, take) = scheduled[i];
            var chunk = new int[take];
            for (var t = 0; t < take; t++) chunk[t] = s.Tokens[s.Computed + t];
            inputs[i] = StepInput.Paged(s.Blocks.Table.ToArray(), s.Computed, chunk);
        }

        var logits = _runner.Step(inputs);
        _steps++;
        var vocab = _runner.VocabSize;
        for (var i = 0; i < scheduled.Count; i++)
        {
            var (s, take) = scheduled[i];
            s.Computed += take;
            _kv.Commit(s.Blocks, s.Tokens, s.Computed);
            var prompt = s.Request.PromptTokens;
            if (s.Request.Sampling.PromptLogprobs is { } promptTop && s.ScoresPrompt && s.PromptLogprobs.Count == s.Computed - 1)
            {
                // The logits after prompt token k score prompt token k + 1; the prompt's first token has none.
                s.PromptLogprobs.Add(s.Computed < prompt.Count ? Logprobs.Of(logits.AsSpan(i * vocab, vocab), prompt[s.Computed], promptTop) : null);
                if (!s.ScoresPrompt) s.Output.TryWrite(new PromptScored([null, .. s.PromptLogprobs.Take(prompt.Count - 1)]));
            }
            if (s.Remaining > 0) continue;
            if (s.Generated.Count == 0) _observer.PromptProcessed(prompt.Count);
            var p = s.Request.Sampling;
            var row = logits.AsSpan(i * vocab, vocab);
            var penalized = LogitsProcessor.IsActive(p);
            // Logprobs are the model's own (before penalties, bias and constraints), so keep the raw row when both are asked for.
            var raw = p.Logprobs is not null && (penalized || s.Constraint is not null) ? row.ToArray() : null;
            if (penalized) LogitsProcessor.Apply(row, p, p.RepetitionPenalty != 1 ? s.PromptSet : EmptySet, s.OutputCounts);
            s.Constraint?.Apply(row);
            IReadOnlySet<int>? suppressed = null;
            // min_tokens holds back stop tokens, unless a constraint says the output is complete.
            if (s.Generated.Count < p.MinTokens && s.Constraint?.OnlyStopTokens != true) suppressed = StopIds(p);
            var token = Sampler.Sample(row, p, s.Random, suppressed);
            s.Constraint?.Advance(token);
            if (penalized) s.OutputCounts[token] = s.OutputCounts.GetValueOrDefault(token) + 1;
            Accept(s, token, p.Logprobs is { } top ? Logprobs.Of(raw is null ? row : raw, token, top) : null);
        }
    }

    private static readonly IReadOnlySet<int> EmptySet = new HashSet<int>();

    private HashSet<int> StopIds(SamplingParams p)
    {
        var ids = new HashSet<int>(p.StopTokenIds);
        if (!p.IgnoreEos) ids.UnionWith(_tokenizer.StopTokenIds);
        return ids;
    }

    private void Accept(Sequence s, int token, TokenLogprobs? logprobs)
    {
        var now = Stopwatch.GetTimestamp();
        if (s.Generated.Count == 0) _observer.FirstToken(Stopwatch.GetElapsedTime(s.ArrivalTicks, now));
        else _observer.InterToken(Stopwatch.GetElapsedTime(s.LastTokenTicks, now));
        s.LastTokenTicks = now;
        s.Generated.Add(token);
        _observer.TokenGenerated();
        var p = s.Request.Sampling;

        var isStopToken = (!p.IgnoreEos && _tokenizer.StopTokenIds.Contains(token)) || p.StopTokenIds.Contains(token);
        if (isStopToken && s.Generated.Count > p.MinTokens - 1)
        {
            s.Output.TryWrite(new TokenGenerated(token, "", logprobs));
            Finish(s, FinishReason.Stop, s.Text.Flush());
            return;
        }
        var (delta, matched) = s.Text.Append(token);
        s.Output.TryWrite(new TokenGenerated(token, delta, logprobs));
        if (matched is not null && s.Generated.Count >= p.MinTokens) { Finish(s, FinishReason.Stop, "", matched); return; }
        if (s.Generated.Count >= p.MaxTokens || s.Tokens.Count >= _options.MaxModelLen) Finish(s, FinishReason.Length, s.Text.Flush());
    }

    private void Finish(Sequence s, FinishReason reason, string tail, string? matched = null)
    {
        if (s.Running)
        {
            _running.Remove(s);
            s.Running = false;
        }
        _kv.Release(s.Blocks);
        Interlocked.Decrement(ref _queued);
        s.Output.TryWrite(new GenerationFinished(reason, tail, s.Request.PromptTokens.Count, s.Generated.Count, matched));
        s.Output.TryComplete();
        _observer.Finished(reason, Stopwatch.GetElapsedTime(s.ArrivalTicks), s.Request.PromptTokens.Count, s.Generated.Count);
    }

    private void Publish() =>
        _stats = new EngineStats(_running.Count, _waiting.Count + _incoming.Count, _kv.Usage, _steps,
            _kv.UsedBlocks, _kv.TotalBlocks, _kv.Pool.Cached, _preemptions);

    public void Dispose()
    {
        _stop.Cancel();
        _wake.Release();
        _thread.Join(TimeSpan.FromSeconds(10));
        _stop.Dispose();
    }
}
