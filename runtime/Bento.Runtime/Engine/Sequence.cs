using System.Diagnostics;
using System.Threading.Channels;
using Bento.Runtime.Tokenization;

namespace Bento.Runtime.Engine;

/// <summary>A request as the scheduler tracks it: its KV slot, how much of the prompt is in the cache, its output.</summary>
internal sealed class Sequence
{
    public Sequence(GenerationRequest request, ITextTokenizer tokenizer, ChannelWriter<GenerationEvent> output, CancellationToken cancellation)
    {
        Request = request;
        Output = output;
        Cancellation = cancellation;
        Text = new OutputText(tokenizer, request.Sampling.Stop);
        Random = request.Sampling.Seed is { } seed ? new Random(unchecked((int)(seed ^ (seed >> 32)))) : new Random();
        Constraint = request.Sampling.Constraint?.Start();
    }

    /// <summary>This sequence's constrained-decoding state, if the request has one.</summary>
    public ILogitsConstraint? Constraint { get; }

    public GenerationRequest Request { get; }
    public ChannelWriter<GenerationEvent> Output { get; }
    public CancellationToken Cancellation { get; }
    public OutputText Text { get; }
    public Random Random { get; }
    public long ArrivalTicks { get; } = Stopwatch.GetTimestamp();
    public long LastTokenTicks { get; set; }

    public int Slot { get; set; } = -1;
    /// <summary>Prompt tokens already written to the KV cache.</summary>
    public int Prefilled { get; set; }
    public List<int> Generated { get; } = [];
    /// <summary>With prompt logprobs: each prompt token's logprob after the first, as the prefill scores them.</summary>
    public List<TokenLogprobs?> PromptLogprobs { get; } = [];
    /// <summary>How often each id was generated (kept only when a penalty needs it).</summary>
    public Dictionary<int, int> OutputCounts { get; } = [];
    /// <summary>The prompt's distinct ids, for repetition_penalty (built on first use).</summary>
    public IReadOnlySet<int> PromptSet => _promptSet ??= Request.PromptTokens.ToHashSet();
    private HashSet<int>? _promptSet;

    public bool PrefillDone => Prefilled >= Request.PromptTokens.Count;
    /// <summary>Tokens in the KV cache: the prompt, then every generated token but the newest (it is fed next step).</summary>
    public int CachedTokens => Prefilled + Math.Max(0, Generated.Count - 1);
}
