namespace Bento.Runtime.Engine.Guided;

/// <summary>
/// A grammar as a recursive transition network over bytes (Thompson's construction per rule): states with byte-set
/// edges, epsilon edges, and call edges that enter a rule and continue at a return state when it completes. The
/// pushdown part (calls and returns) is what JSON nesting and recursive $refs need.
/// </summary>
internal sealed class ByteNfa
{
    internal sealed class State
    {
        public readonly List<(ByteSet Set, int Target)> Bytes = [];
        public readonly List<int> Epsilon = [];
        public readonly List<(int Rule, int Return)> Calls = [];
        public bool IsFinal;
    }

    private readonly List<State> _states = [];

    public IReadOnlyList<State> States => _states;
    public int[] RuleStart { get; }

    /// <summary>
    /// States from which the rule can only end (epsilon edges to its final state and nothing else): a call returning
    /// to one is a tail call, which needs no stack frame. Object members (one rule per remaining member) and repeated
    /// elements would otherwise grow the stack by one frame per member.
    /// </summary>
    public bool[] OnlyEnds { get; private set; } = [];

    public ByteNfa(Grammar grammar)
    {
        RuleStart = new int[grammar.Rules.Count];
        for (var r = 0; r < grammar.Rules.Count; r++) RuleStart[r] = New();
        for (var r = 0; r < grammar.Rules.Count; r++)
        {
            var body = grammar.Rules[r] ?? throw new InvalidOperationException($"grammar rule '{grammar.Names[r]}' was declared but never defined");
            var end = Emit(body, RuleStart[r]);
            var final = New();
            _states[end].Epsilon.Add(final);
            _states[final].IsFinal = true;
        }
        OnlyEnds = new bool[_states.Count];
        for (var s = 0; s < _states.Count; s++) OnlyEnds[s] = EndsOnly(s);
    }

    private bool EndsOnly(int start)
    {
        var seen = new HashSet<int>();
        var work = new Stack<int>([start]);
        var reachesFinal = false;
        while (work.Count > 0)
        {
            var s = work.Pop();
            if (!seen.Add(s)) continue;
            var state = _states[s];
            if (state.Bytes.Count > 0 || state.Calls.Count > 0) return false;
            reachesFinal |= state.IsFinal;
            foreach (var e in state.Epsilon) work.Push(e);
        }
        return reachesFinal;
    }

    private int New()
    {
        _states.Add(new State());
        return _states.Count - 1;
    }

    /// <summary>Adds the states for <paramref name="node"/> starting at <paramref name="from"/>; returns the state after it.</summary>
    private int Emit(GrammarNode node, int from)
    {
        switch (node)
        {
            case LiteralNode literal:
                foreach (var b in literal.Bytes)
                {
                    var next = New();
                    _states[from].Bytes.Add((ByteSet.Of(b), next));
                    from = next;
                }
                return from;
            case ByteSetNode set:
            {
                var next = New();
                if (!set.Set.IsEmpty) _states[from].Bytes.Add((set.Set, next));
                return next;
            }
            case SeqNode seq:
                foreach (var item in seq.Items) from = Emit(item, from);
                return from;
            case AltNode alt:
            {
                var end = New();
                foreach (var item in alt.Items)
                {
                    var start = New();
                    _states[from].Epsilon.Add(start);
                    _states[Emit(item, start)].Epsilon.Add(end);
                }
                return end;
            }
            case RepeatNode repeat:
            {
                for (var i = 0; i < repeat.Min; i++) from = Emit(repeat.Item, from);
                if (repeat.Max < 0)
                {
                    var loop = New();
                    _states[from].Epsilon.Add(loop);
                    _states[Emit(repeat.Item, loop)].Epsilon.Add(loop);
                    return loop;
                }
                var end = New();
                for (var i = repeat.Min; i < repeat.Max; i++)
                {
                    _states[from].Epsilon.Add(end);
                    var start = New();
                    _states[from].Epsilon.Add(start);
                    from = Emit(repeat.Item, start);
                }
                _states[from].Epsilon.Add(end);
                return end;
            }
            case RuleRefNode call:
            {
                var back = New();
                _states[from].Calls.Add((call.Rule, back));
                return back;
            }
            default:
                throw new InvalidOperationException($"unknown grammar node {node.GetType().Name}");
        }
    }
}
