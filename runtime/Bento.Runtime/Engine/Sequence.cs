using System.Collections;
using System.Diagnostics;
using System.Threading.Channels;
using Bento.Runtime.Tokenization;

namespace Bento.Runtime.Engine;

/// <summary>
/// A request as the scheduler tracks it: its tokens (prompt, then generated), how many of them are in the KV cache
/// (<see cref="Computed"/>), the blocks that hold them, its output. Every step computes the tokens
/// [Computed, Tokens.Count) or a chunk of them; when a step reaches the last token, its logits give the next token.
/// A preempted sequence loses its blocks and Computed drops to 0: it is recomputed later from its tokens, which is
/// why the generated tokens are part of <see cref="Tokens"/>.
/// </summary>
internal sealed class Sequence
{
    public Sequence(GenerationRequest request, ITextTokenizer tokenizer, ChannelWriter<GenerationEvent> output, CancellationToken cancellation)
    {
        Request = request;
        Output = output;
        Cancellation = cancellation;
        Text = new OutputText(tokenizer, request.Sampling.Stop);
        Random = request.Sampling.Seed is { } seed ? new Random(unchecked((int)(seed ^ (seed >> 32)))) : new Random();
        Tokens = new TokenList(request.PromptTokens, Generated);
        Constraint = request.Sampling.Constraint?.Start();
    }

    /// <summary>This sequence's constrained-decoding state, if the request has one (kept across a preemption: the
    /// tokens it has seen do not change).</summary>
    public ILogitsConstraint? Constraint { get; }

    public GenerationRequest Request { get; }
    public ChannelWriter<GenerationEvent> Output { get; }
    public CancellationToken Cancellation { get; }
    public OutputText Text { get; }
    public Random Random { get; }
    public long ArrivalTicks { get; } = Stopwatch.GetTimestamp();
    public long LastTokenTicks { get; set; }

    /// <summary>The prompt followed by the generated tokens.</summary>
    public IReadOnlyList<int> Tokens { get; }
    /// <summary>Tokens whose keys and values are in the KV cache (a prefix of <see cref="Tokens"/>).</summary>
    public int Computed { get; set; }
    public SequenceBlocks Blocks { get; } = new();
    public bool Running { get; set; }
    public int Preemptions { get; set; }

    public List<int> Generated { get; } = [];
    /// <summary>With prompt logprobs: entry k scores prompt token k + 1 by the logits after token k (null after the
    /// last), filled as the prefill goes one token per step.</summary>
    public List<TokenLogprobs?> PromptLogprobs { get; } = [];
    /// <summary>Whether the prompt still needs scoring (prompt logprobs asked for and not all collected): such a
    /// sequence neither takes cached blocks (they come without logits) nor prefills more than one token per step.</summary>
    public bool ScoresPrompt => Request.Sampling.PromptLogprobs is not null && PromptLogprobs.Count < Request.PromptTokens.Count;
    /// <summary>How often each id was generated (kept only when a penalty needs it).</summary>
    public Dictionary<int, int> OutputCounts { get; } = [];
    /// <summary>The prompt's distinct ids, for repetition_penalty (built on first use).</summary>
    public IReadOnlySet<int> PromptSet => _promptSet ??= Request.PromptTokens.ToHashSet();
    private HashSet<int>? _promptSet;

    /// <summary>Tokens still to compute before the next token can be sampled (1 while decoding).</summary>
    public int Remaining => Tokens.Count - Computed;

    /// <summary>The prompt and the generated list seen as one list, without copying.</summary>
    private sealed class TokenList(IReadOnlyList<int> prompt, List<int> generated) : IReadOnlyList<int>
    {
        public int Count => prompt.Count + generated.Count;
        public int this[int index] => index < prompt.Count ? prompt[index] : generated[index - prompt.Count];

        public IEnumerator<int> GetEnumerator()
        {
            foreach (var t in prompt) yield return t;
            foreach (var t in generated) yield return t;
        }

        IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
    }
}
