using Bento.Runtime.Model;

namespace Bento.Runtime.Tests.Engine;

/// <summary>
/// A model runner for scheduler tests with a real paged "KV cache": every block holds the token ids written at its
/// positions, and each step reads a sequence's whole context back through its block table, so a wrong table, a block
/// shared that should not be, a block reused while still referenced or evicted too early changes the output, and a
/// read of a position no step wrote throws. Its "model" predicts (last token + 1) mod vocab, or with
/// <see cref="ContextModel"/> a hash of the whole context (so the output depends on every cached token); it emits
/// <see cref="EosId"/> once a context holds <see cref="EosAfter"/> tokens.
/// </summary>
internal sealed class ScriptedRunner : IModelRunner
{
    private const int B = KvCache.BlockSize;
    private readonly int[][] _blocks;

    public ScriptedRunner(int vocab = 64, int blocks = 64, int maxLen = 128)
    {
        VocabSize = vocab;
        KvBlocks = blocks;
        MaxSequenceLength = maxLen;
        _blocks = Enumerable.Range(0, blocks).Select(_ => Enumerable.Repeat(-1, B).ToArray()).ToArray();
    }

    public int VocabSize { get; }
    public int KvBlocks { get; }
    public int MaxSequenceLength { get; }
    public int EosId { get; init; } = -1;
    public int EosAfter { get; init; } = int.MaxValue;
    public bool ContextModel { get; init; }
    public TimeSpan StepDelay { get; init; }

    /// <summary>When set, every step after the first <see cref="HoldAfterSteps"/> waits for it: a test can hold the
    /// engine mid-generation while it submits more work, however slowly the machine schedules the test.</summary>
    public ManualResetEventSlim? Hold { get; init; }

    public int HoldAfterSteps { get; init; }
    public RunnerInfo Info => new("test", "float32", false, "n/a", 0, 0, KvBlocks);
    public List<IReadOnlyList<StepInput>> Steps { get; } = [];
    /// <summary>Tokens computed (written to the cache) over all steps.</summary>
    public long TokensComputed { get; private set; }
    public int ThreadId { get; private set; }

    /// <summary>The next token the model predicts after <paramref name="context"/> (the same rule the steps use).</summary>
    public int Next(IReadOnlyList<int> context) =>
        context.Count >= EosAfter && EosId >= 0 ? EosId
        : ContextModel ? (int)(context.Aggregate(17L, (h, t) => (h * 31 + t) % 1_000_003) % (VocabSize - 1))
        : (context[^1] + 1) % VocabSize;

    public float[] Step(IReadOnlyList<StepInput> batch)
    {
        ThreadId = Environment.CurrentManagedThreadId;
        if (Hold is not null)
        {
            int done;
            lock (Steps) done = Steps.Count;
            if (done >= HoldAfterSteps) Hold.Wait();
        }
        lock (Steps) Steps.Add(batch.ToList());
        if (StepDelay > TimeSpan.Zero) Thread.Sleep(StepDelay);
        var written = new HashSet<(int, int)>();
        var logits = new float[batch.Count * VocabSize];
        // Writes first, as the real runner does layer by layer, then reads: a sequence never sees a position another
        // sequence writes in the same step unless it is its own.
        var contexts = new List<int>[batch.Count];
        for (var i = 0; i < batch.Count; i++)
        {
            var input = batch[i];
            if (!input.IsPaged) throw new InvalidOperationException("the engine must address the cache through block tables");
            var table = input.Blocks.Span;
            var end = input.Position + input.Tokens.Length;
            if (end > MaxSequenceLength) throw new InvalidOperationException($"positions up to {end} exceed {MaxSequenceLength}");
            if (table.Length * B < end) throw new InvalidOperationException($"{table.Length} blocks cannot hold {end} positions");
            var context = new List<int>(end);
            for (var p = 0; p < input.Position; p++)
            {
                var token = _blocks[table[p / B]][p % B];
                if (token < 0) throw new InvalidOperationException($"input {i} reads position {p} (block {table[p / B]}), which no step wrote");
                context.Add(token);
            }
            for (var t = 0; t < input.Tokens.Length; t++)
            {
                var p = input.Position + t;
                if (!written.Add((table[p / B], p % B)))
                    throw new InvalidOperationException($"block {table[p / B]} offset {p % B} written twice in one step");
                context.Add(input.Tokens.Span[t]);
            }
            contexts[i] = context;
        }
        for (var i = 0; i < batch.Count; i++)
        {
            var input = batch[i];
            var table = input.Blocks.Span;
            for (var t = 0; t < input.Tokens.Length; t++)
            {
                var p = input.Position + t;
                _blocks[table[p / B]][p % B] = input.Tokens.Span[t];
            }
            TokensComputed += input.Tokens.Length;
            var next = Next(contexts[i]);
            logits[i * VocabSize + next] = 10f;
            logits[i * VocabSize + (next + 1) % VocabSize] = 9f;
        }
        return logits;
    }

    public void Dispose() { }
}
