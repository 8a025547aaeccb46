using System.Collections.Concurrent;
using System.Diagnostics;
using System.Threading.Channels;
using Bento.Runtime.Model;
using Bento.Runtime.Tokenization;

namespace Bento.Runtime.Engine;

/// <summary>
/// The engine: a scheduler with continuous batching over one model runner. Requests join between steps (prefill,
/// chunked to <see cref="EngineOptions.MaxBatchedTokens"/>) and leave when they finish or their client goes away, which
/// frees their KV slot at once. Every step runs on one dedicated thread, because TorchSharp's inference-mode and
/// dispose scopes are per thread; callers only touch channels.
/// </summary>
public sealed class LlmEngine : IDisposable
{
    private readonly IModelRunner _runner;
    private readonly ITextTokenizer _tokenizer;
    private readonly EngineOptions _options;
    private readonly IEngineObserver _observer;
    private readonly ConcurrentQueue<Sequence> _incoming = new();
    private readonly SemaphoreSlim _wake = new(0);
    private readonly LinkedList<Sequence> _waiting = new();
    private readonly List<Sequence> _running = [];
    private readonly Stack<int> _freeSlots;
    private readonly Thread _thread;
    private readonly CancellationTokenSource _stop = new();
    private int _queued;
    private long _steps;
    private volatile EngineStats _stats = new(0, 0, 0, 0);
    private Exception? _fault;

    public LlmEngine(IModelRunner runner, ITextTokenizer tokenizer, EngineOptions options, IEngineObserver? observer = null)
    {
        _runner = runner;
        _tokenizer = tokenizer;
        _options = options with
        {
            MaxNumSeqs = Math.Min(options.MaxNumSeqs, runner.Slots),
            MaxModelLen = Math.Min(options.MaxModelLen, runner.MaxSequenceLength),
        };
        _observer = observer ?? IEngineObserver.None;
        _freeSlots = new Stack<int>(Enumerable.Range(0, _options.MaxNumSeqs).Reverse());
        _thread = new Thread(Loop) { IsBackground = true, Name = "bento-model" };
        _thread.Start();
    }

    public EngineOptions Options => _options;
    public EngineStats Stats => _stats;
    /// <summary>Set if the model thread died; the server reports it on /health and /ready.</summary>
    public Exception? Fault => _fault;

    /// <summary>
    /// Queues a request and returns its event stream. Throws <see cref="InvalidRequestException"/> for requests that
    /// can never run and <see cref="EngineOverloadedException"/> when the queue is full. Cancelling
    /// <paramref name="cancellation"/> (a client disconnect) removes the request and frees its KV slot.
    /// </summary>
    public ChannelReader<GenerationEvent> Submit(GenerationRequest request, CancellationToken cancellation)
    {
        if (_fault is not null) throw new EngineOverloadedException($"the engine has stopped: {_fault.Message}");
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
                Admit();
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

    private void Admit()
    {
        while (_incoming.TryDequeue(out var s)) _waiting.AddLast(s);
        while (_waiting.First?.Value is { } first && _freeSlots.Count > 0)
        {
            _waiting.RemoveFirst();
            if (first.Cancellation.IsCancellationRequested) { Finish(first, FinishReason.Abort, ""); continue; }
            first.Slot = _freeSlots.Pop();
            _running.Add(first);
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

    /// <summary>One model step: every decoding sequence contributes its newest token, prefills share the token budget.</summary>
    private void Step()
    {
        var inputs = new List<StepInput>();
        var owners = new List<(Sequence Seq, bool Samples)>();
        var budget = _options.MaxBatchedTokens;
        foreach (var s in _running.Where(s => s.PrefillDone))
        {
            inputs.Add(new StepInput(s.Slot, s.CachedTokens, new[] { s.Generated[^1] }));
            owners.Add((s, true));
            budget--;
        }
        foreach (var s in _running.Where(s => !s.PrefillDone))
        {
            if (budget <= 0) break;
            var prompt = s.Request.PromptTokens;
            var take = Math.Min(budget, prompt.Count - s.Prefilled);
            // Prompt logprobs (completions' echo with logprobs) need the logits after every prompt token, and the
            // runner returns the last row of each input: such prompts go through one token per step.
            if (s.Request.Sampling.PromptLogprobs is not null) take = 1;
            var chunk = new int[take];
            for (var i = 0; i < take; i++) chunk[i] = prompt[s.Prefilled + i];
            inputs.Add(new StepInput(s.Slot, s.Prefilled, chunk));
            s.Prefilled += take;
            budget -= take;
            owners.Add((s, s.PrefillDone));
            _observer.PromptProcessed(take);
        }
        if (inputs.Count == 0) return;

        var logits = _runner.Step(inputs);
        _steps++;
        var vocab = _runner.VocabSize;
        for (var i = 0; i < owners.Count; i++)
        {
            var (s, samples) = owners[i];
            if (s.Request.Sampling.PromptLogprobs is { } promptTop && s.PromptLogprobs.Count < s.Request.PromptTokens.Count)
            {
                // The logits after prompt token k score prompt token k + 1; the prompt's first token has none.
                s.PromptLogprobs.Add(s.Prefilled < s.Request.PromptTokens.Count
                    ? Logprobs.Of(logits.AsSpan(i * vocab, vocab), s.Request.PromptTokens[s.Prefilled], promptTop)
                    : null);
                if (samples) s.Output.TryWrite(new PromptScored([null, .. s.PromptLogprobs.Take(s.Request.PromptTokens.Count - 1)]));
            }
            if (!samples) continue;
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
        if (s.Generated.Count >= p.MaxTokens || s.CachedTokens + 1 >= _options.MaxModelLen) Finish(s, FinishReason.Length, s.Text.Flush());
    }

    private void Finish(Sequence s, FinishReason reason, string tail, string? matched = null)
    {
        if (s.Slot >= 0)
        {
            _running.Remove(s);
            _freeSlots.Push(s.Slot);
            s.Slot = -1;
        }
        Interlocked.Decrement(ref _queued);
        s.Output.TryWrite(new GenerationFinished(reason, tail, s.Request.PromptTokens.Count, s.Generated.Count, matched));
        s.Output.TryComplete();
        _observer.Finished(reason, Stopwatch.GetElapsedTime(s.ArrivalTicks), s.Request.PromptTokens.Count, s.Generated.Count);
    }

    private void Publish()
    {
        long cached = _running.Sum(s => (long)s.CachedTokens);
        var capacity = (double)_options.MaxNumSeqs * _options.MaxModelLen;
        _stats = new EngineStats(_running.Count, _waiting.Count + _incoming.Count, capacity > 0 ? cached / capacity : 0, _steps);
    }

    public void Dispose()
    {
        _stop.Cancel();
        _wake.Release();
        _thread.Join(TimeSpan.FromSeconds(10));
        _stop.Dispose();
    }
}
