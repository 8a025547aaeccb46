using Bento.Runtime.Model;

namespace Bento.Runtime.Tests.Engine;

/// <summary>
/// A model runner for scheduler tests: its "model" predicts (last token + 1) mod vocab, except that it emits
/// <see cref="EosId"/> once a slot holds <see cref="EosAfter"/> tokens. It records every step and checks the
/// positions the engine sends against what it has cached per slot, like a real KV cache would need.
/// </summary>
internal sealed class ScriptedRunner : IModelRunner
{
    private readonly int[] _cached;

    public ScriptedRunner(int vocab = 64, int slots = 4, int maxLen = 128)
    {
        VocabSize = vocab;
        Slots = slots;
        MaxSequenceLength = maxLen;
        _cached = new int[slots];
    }

    public int VocabSize { get; }
    public int Slots { get; }
    public int MaxSequenceLength { get; }
    public int EosId { get; init; } = -1;
    public int EosAfter { get; init; } = int.MaxValue;
    public TimeSpan StepDelay { get; init; }

    /// <summary>When set, every step after the first <see cref="HoldAfterSteps"/> waits for it: a test can hold the
    /// engine mid-generation while it submits more work, however slowly the machine schedules the test.</summary>
    public ManualResetEventSlim? Hold { get; init; }

    public int HoldAfterSteps { get; init; }
    public RunnerInfo Info => new("test", "float32", false, "n/a", 0, 0);
    public List<IReadOnlyList<StepInput>> Steps { get; } = [];
    public int ThreadId { get; private set; }

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
        var logits = new float[batch.Count * VocabSize];
        for (var i = 0; i < batch.Count; i++)
        {
            var input = batch[i];
            // A new sequence in a reused slot starts at position 0.
            if (input.Position == 0) _cached[input.Slot] = 0;
            if (input.Position != _cached[input.Slot])
                throw new InvalidOperationException($"slot {input.Slot}: position {input.Position} but {_cached[input.Slot]} cached");
            _cached[input.Slot] += input.Tokens.Length;
            var last = input.Tokens.Span[^1];
            var next = _cached[input.Slot] >= EosAfter && EosId >= 0 ? EosId : (last + 1) % VocabSize;
            logits[i * VocabSize + next] = 10f;
            logits[i * VocabSize + (next + 1) % VocabSize] = 9f;
        }
        return logits;
    }

    public void Dispose() { }
}
