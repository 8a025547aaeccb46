namespace Bento.Runtime.Engine.Guided;

/// <summary>
/// A compiled grammar for one tokenizer plus the ids that end generation: the factory every sequence of a
/// constrained request starts its own <see cref="GrammarConstraint"/> from.
/// </summary>
public sealed class GuidedConstraint : ILogitsConstraintFactory
{
    internal GuidedConstraint(GrammarMachine machine, TokenTrie trie, IReadOnlyCollection<int> stopIds)
    {
        Machine = machine;
        Trie = trie;
        StopIds = stopIds.Distinct().ToArray();
    }

    internal GrammarMachine Machine { get; }
    internal TokenTrie Trie { get; }
    internal int[] StopIds { get; }

    /// <summary>What the constraint enforces, e.g. "json_schema" (for logs and errors).</summary>
    public string Description => Machine.Description;

    public ILogitsConstraint Start() => new GrammarConstraint(this);

    /// <summary>Whether <paramref name="text"/> is a complete output of the grammar (tests, tool-call checks).</summary>
    public bool Accepts(string text) => Machine.Walk(Machine.Start, System.Text.Encoding.UTF8.GetBytes(text)) is { Accepting: true };

    /// <summary>Whether <paramref name="text"/> can still be continued to a complete output (a cut-off is a prefix).</summary>
    public bool IsPrefix(string text) => Machine.Walk(Machine.Start, System.Text.Encoding.UTF8.GetBytes(text)) != GrammarMachine.Dead;
}

/// <summary>One sequence's position in the grammar; masks logits so only tokens that keep the output valid remain.</summary>
internal sealed class GrammarConstraint(GuidedConstraint compiled) : ILogitsConstraint
{
    private readonly GrammarMachine _machine = compiled.Machine;
    private GrammarMachine.Config _config = compiled.Machine.Start;
    private bool _ended;

    public bool OnlyStopTokens { get; private set; }

    public void Apply(Span<float> logits)
    {
        var stops = compiled.StopIds;
        Span<float> saved = stackalloc float[Math.Min(stops.Length, 64)];
        for (var i = 0; i < saved.Length; i++) saved[i] = (uint)stops[i] < (uint)logits.Length ? logits[stops[i]] : float.NegativeInfinity;

        var allowStops = true;
        if (_ended || _config == GrammarMachine.Dead)
        {
            logits.Fill(float.NegativeInfinity);
            OnlyStopTokens = true;
        }
        else
        {
            var mask = _machine.Mask(_config, out var empty);
            ApplyMask(logits, mask);
            allowStops = _config.Accepting || empty;
            OnlyStopTokens = empty;
        }
        for (var i = 0; i < saved.Length; i++)
            if ((uint)stops[i] < (uint)logits.Length) logits[stops[i]] = allowStops ? saved[i] : float.NegativeInfinity;
    }

    private static void ApplyMask(Span<float> logits, ulong[] mask)
    {
        var words = Math.Min(mask.Length, (logits.Length + 63) / 64);
        for (var w = 0; w < words; w++)
        {
            var bits = mask[w];
            var start = w * 64;
            var count = Math.Min(64, logits.Length - start);
            if (bits == ulong.MaxValue && count == 64) continue;
            if (bits == 0) { logits.Slice(start, count).Fill(float.NegativeInfinity); continue; }
            for (var i = 0; i < count; i++)
                if ((bits & (1UL << i)) == 0) logits[start + i] = float.NegativeInfinity;
        }
        // Rows beyond the tokenizer's vocabulary (padded embeddings) are never text.
        if (words * 64 < logits.Length) logits[(words * 64)..].Fill(float.NegativeInfinity);
    }

    public void Advance(int token)
    {
        if (_ended) return;
        if (Array.IndexOf(compiled.StopIds, token) >= 0) { _ended = true; return; }
        var bytes = (uint)token < (uint)compiled.Trie.Bytes.Length ? compiled.Trie.Bytes[token] : null;
        _config = bytes is null ? GrammarMachine.Dead : _machine.Walk(_config, bytes);
    }
}
