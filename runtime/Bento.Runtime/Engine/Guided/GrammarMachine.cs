namespace Bento.Runtime.Engine.Guided;

/// <summary>
/// A compiled constraint for one tokenizer: the grammar's pushdown automaton run as a lazily built DFA over its
/// configurations (sets of call stacks), and the token masks of each configuration. A configuration's byte
/// transitions and its mask are computed once, the first time any sequence reaches it, and reused by every later
/// step and request with the same constraint, so a step usually costs a lookup and a pass over the logits.
/// </summary>
/// <remarks>All calls come from the engine's model thread; a lock keeps it safe anyway.</remarks>
internal sealed class GrammarMachine
{
    /// <summary>Nesting deeper than this is not generated (a call that would exceed it is not taken).</summary>
    public const int MaxDepth = 128;
    /// <summary>Masks kept before the oldest are dropped (they are recomputed on demand): 2,048 at a 128k vocabulary.</summary>
    private const long MaxMaskBytes = 32L << 20;
    /// <summary>Configurations kept before the cache starts over for new sequences (a generic JSON grammar can reach
    /// ever new nestings); sequences under way keep theirs.</summary>
    private const int MaxConfigs = 100_000;

    internal sealed class Config(int[] stacks, bool accepting)
    {
        public readonly int[] Stacks = stacks;
        public readonly bool Accepting = accepting;
        public Config?[]? Next;
        public ulong[]? Mask;
        /// <summary>True when the grammar allows no token here, only the end (set with the mask).</summary>
        public bool MaskEmpty;
        public bool HasBytes => Stacks.Length > 0;
    }

    private static readonly Config DeadConfig = new([], false);

    private readonly ByteNfa _nfa;
    private readonly TokenTrie _trie;
    private readonly List<(int State, int Parent, int Depth)> _stacks = [];
    private readonly Dictionary<(int, int), int> _stackIds = [];
    private readonly Dictionary<ConfigKey, Config> _configs = [];
    private readonly Queue<Config> _masked = new();
    private readonly object _lock = new();

    public GrammarMachine(Grammar grammar, TokenTrie trie, string description)
    {
        _nfa = new ByteNfa(grammar);
        _trie = trie;
        Description = description;
        _start = Closure([StackId(_nfa.RuleStart[0], -1)]);
    }

    private Config _start;

    public string Description { get; }

    /// <summary>Where a new sequence begins.</summary>
    public Config Start
    {
        get
        {
            lock (_lock)
            {
                if (_configs.Count > MaxConfigs)
                {
                    // Forget the lazily built DFA (the old start's graph goes once no sequence holds it).
                    _configs.Clear();
                    _masked.Clear();
                    _start = Closure([StackId(_nfa.RuleStart[0], -1)]);
                }
                return _start;
            }
        }
    }
    public static Config Dead => DeadConfig;
    public int ConfigCount => _configs.Count;
    public int VocabSize => _trie.VocabSize;

    private int StackId(int state, int parent)
    {
        if (_stackIds.TryGetValue((state, parent), out var id)) return id;
        id = _stacks.Count;
        _stacks.Add((state, parent, parent < 0 ? 0 : _stacks[parent].Depth + 1));
        _stackIds[(state, parent)] = id;
        return id;
    }

    /// <summary>Follows epsilon, call and return edges; keeps the stacks that can read a byte.</summary>
    private Config Closure(IEnumerable<int> seeds)
    {
        var visited = new HashSet<int>();
        var work = new Stack<int>(seeds);
        var ready = new List<int>();
        var accepting = false;
        while (work.Count > 0)
        {
            var id = work.Pop();
            if (!visited.Add(id)) continue;
            var (state, parent, depth) = _stacks[id];
            var s = _nfa.States[state];
            if (s.Bytes.Count > 0) ready.Add(id);
            foreach (var e in s.Epsilon) work.Push(StackId(e, parent));
            if (depth < MaxDepth)
                foreach (var (rule, back) in s.Calls)
                    work.Push(StackId(_nfa.RuleStart[rule], _nfa.OnlyEnds[back] ? parent : StackId(back, parent)));
            if (s.IsFinal)
            {
                if (parent < 0) accepting = true;
                else work.Push(parent);
            }
        }
        if (ready.Count == 0 && !accepting) return DeadConfig;
        ready.Sort();
        var key = new ConfigKey(ready.ToArray(), accepting);
        if (_configs.TryGetValue(key, out var existing)) return existing;
        var config = new Config(key.Stacks, accepting);
        _configs[key] = config;
        return config;
    }

    public Config Step(Config config, byte b)
    {
        if (config == DeadConfig) return DeadConfig;
        var next = (config.Next ??= new Config?[256])[b];
        if (next is not null) return next;
        var seeds = new List<int>();
        foreach (var id in config.Stacks)
        {
            var (state, parent, _) = _stacks[id];
            foreach (var (set, target) in _nfa.States[state].Bytes)
                if (set.Contains(b)) seeds.Add(StackId(target, parent));
        }
        next = seeds.Count == 0 ? DeadConfig : Closure(seeds);
        config.Next[b] = next;
        return next;
    }

    /// <summary>The configuration after the bytes of <paramref name="bytes"/> (Dead if the grammar rejects them).</summary>
    public Config Walk(Config config, ReadOnlySpan<byte> bytes)
    {
        lock (_lock)
        {
            foreach (var b in bytes)
            {
                config = Step(config, b);
                if (config == DeadConfig) break;
            }
            return config;
        }
    }

    /// <summary>The tokens whose bytes the grammar accepts from <paramref name="config"/> (as a bit set over ids).</summary>
    public ulong[] Mask(Config config, out bool empty)
    {
        lock (_lock)
        {
            if (config.Mask is null) ComputeMask(config);
            empty = config.MaskEmpty;
            return config.Mask!;
        }
    }

    private void ComputeMask(Config config)
    {
        var mask = new ulong[(_trie.VocabSize + 63) / 64];
        var any = false;
        if (config.HasBytes)
        {
            var stack = new Stack<(int Node, Config Config)>();
            stack.Push((0, config));
            while (stack.Count > 0)
            {
                var (node, c) = stack.Pop();
                for (var k = _trie.ChildStart[node]; k < _trie.ChildStart[node + 1]; k++)
                {
                    var next = Step(c, _trie.ChildByte[k]);
                    if (next == DeadConfig) continue;
                    var child = _trie.ChildNode[k];
                    for (var t = _trie.TokenStart[child]; t < _trie.TokenStart[child + 1]; t++)
                    {
                        var id = _trie.TokenIds[t];
                        mask[id >> 6] |= 1UL << (id & 63);
                        any = true;
                    }
                    if (next.HasBytes && _trie.ChildStart[child + 1] > _trie.ChildStart[child]) stack.Push((child, next));
                }
            }
        }
        config.Mask = mask;
        config.MaskEmpty = !any;
        _masked.Enqueue(config);
        // Bound the memory masks take: forget the oldest (recomputed if reached again).
        while ((long)_masked.Count * mask.Length * 8 > MaxMaskBytes && _masked.Count > 1) _masked.Dequeue().Mask = null;
    }

    private readonly record struct ConfigKey(int[] Stacks, bool Accepting)
    {
        public bool Equals(ConfigKey other) => Accepting == other.Accepting && Stacks.AsSpan().SequenceEqual(other.Stacks);

        public override int GetHashCode()
        {
            var hash = new HashCode();
            hash.Add(Accepting);
            foreach (var s in Stacks) hash.Add(s);
            return hash.ToHashCode();
        }
    }
}
