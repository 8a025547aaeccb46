using TorchSharp;
using static TorchSharp.torch;

namespace Bento.Runtime.Model;

/// <summary>Options of <see cref="EagerModelRunner"/>.</summary>
public sealed record EagerRunnerOptions
{
    /// <summary>"auto" (config.json's torch_dtype, float32 when absent), "float32", "bfloat16" or "float16".
    /// On CPU, float16 matrix multiplies are slow in LibTorch (no native fp16 GEMM on most x86 CPUs): use float32
    /// or bfloat16 there. Only float32 uses the managed decode kernel (see <see cref="Projector"/>).</summary>
    public string Dtype { get; init; } = "auto";

    public int Slots { get; init; } = 8;

    /// <summary>Tokens per sequence (prompt + generated); default min(max_position_embeddings, 2048).</summary>
    public int? MaxSequenceLength { get; init; }

    /// <summary>Threads for LibTorch's prefill GEMMs and the decode kernel; default: all cores.</summary>
    public int Threads { get; init; } = Environment.ProcessorCount;

    /// <summary>Longest piece of a prompt that goes through one forward; longer prompts are split.</summary>
    public int PrefillChunk { get; init; } = 512;

    /// <summary>Copy the weights into process memory (64-byte aligned) instead of using views of the file mapping;
    /// the mapping is dropped, so weights are held once either way (anonymous instead of file-backed pages). Costs a
    /// full read at start-up; can speed up decode a little (see Model/README.md).</summary>
    public bool CopyWeights { get; init; }

    /// <summary>False forces LibTorch's matrix multiplies for decode too (for comparison).</summary>
    public bool ManagedDecodeKernel { get; init; } = true;
}

/// <summary>
/// Runs the model op by op on the CPU (no graphs). Each <see cref="Step"/> is one batched forward: all token rows of
/// all sequences (decode tokens and prefill chunks alike) go through each weight matrix together, so the weights are
/// read once per step for the whole batch - what makes continuous batching pay on memory-bound CPUs. Prompts longer
/// than <see cref="EagerRunnerOptions.PrefillChunk"/> take several forwards.
/// </summary>
/// <remarks>
/// A CUDA-graph runner would implement <see cref="IModelRunner"/> beside this one and reuse <see cref="LlamaForCausalLM"/>
/// and <see cref="KvCache"/> (allocated on the GPU). What it needs on top: static input buffers (tokens, positions,
/// slots, last-row indices) allocated once per batch bucket (1, 2, 4, 8, ... padded) and refreshed with copy_ before
/// each replay; the KV-cache write done with device-side index tensors (index_put_ as here, never host loops); decode
/// attention over the full MaxSequenceLength with a device-side padding mask built from the positions tensor (so
/// shapes never depend on the step); no host syncs inside the captured region; prefill kept eager; capture the largest
/// bucket first into one shared memory pool through a small C++ shim (TorchSharp 0.107 cannot capture graphs itself).
/// </remarks>
public sealed class EagerModelRunner : IModelRunner
{
    private readonly LlamaForCausalLM _model;
    private readonly KvCache _cache;
    private readonly Projector _projector;
    private readonly int _threads;
    private readonly int _prefillChunk;
    private int _torchThreads = -1;
    private bool _disposed;

    public EagerModelRunner(ModelConfig config, SafetensorsCheckpoint checkpoint, EagerRunnerOptions? options = null)
    {
        options ??= new EagerRunnerOptions();
        Config = config;
        var dtype = ResolveDtype(options.Dtype, config.TorchDtype);
        MaxSequenceLength = options.MaxSequenceLength ?? Math.Min(config.MaxPositionEmbeddings, 2048);
        if (MaxSequenceLength <= 0) throw new ArgumentException("MaxSequenceLength must be positive");
        if (options.Slots <= 0) throw new ArgumentException("Slots must be positive");
        config.CheckServable(MaxSequenceLength);
        Slots = options.Slots;
        _threads = Math.Max(1, options.Threads);
        _prefillChunk = Math.Max(1, options.PrefillChunk);

        using (inference_mode())
        {
            _model = LlamaForCausalLM.FromCheckpoint(config, checkpoint, dtype, copy: options.CopyWeights);
            _model.eval();
            _model.ContextLength = MaxSequenceLength; // RoPE tables, and LongRoPE's choice of factors
            _cache = new KvCache(config, Slots, MaxSequenceLength, dtype);
        }
        _projector = new Projector(options.ManagedDecodeKernel ? _threads : 0);
        var weightBytes = _model.parameters().Sum(p => p.NumberOfElements * p.ElementSize);
        Info = new RunnerInfo("cpu", DtypeName(dtype), false, "unavailable on CPU (enforce_eager has no effect here)", weightBytes, _cache.Bytes);
    }

    /// <summary>Opens config.json and the safetensors checkpoint of a model folder.</summary>
    /// <param name="config">The folder's config.json when the caller has read it already.</param>
    public static EagerModelRunner Open(string modelDirectory, EagerRunnerOptions? options = null, ModelConfig? config = null)
    {
        config ??= ModelConfig.Load(modelDirectory);
        using var checkpoint = SafetensorsCheckpoint.Open(modelDirectory);
        return new EagerModelRunner(config, checkpoint, options);
    }

    public ModelConfig Config { get; }
    public LlamaForCausalLM Model => _model;
    public int VocabSize => Config.VocabSize;
    public int Slots { get; }
    public int MaxSequenceLength { get; }
    public RunnerInfo Info { get; }

    /// <summary>The dtype setting (or, for auto, the checkpoint's) as LibTorch's scalar type.</summary>
    public static ScalarType ResolveDtype(string requested, ModelDtype? checkpoint)
    {
        if (ModelDtype.CanonicalSetting(requested) is null)
            throw new ArgumentException($"dtype '{requested}' is not supported; {ModelDtype.Choices}");
        var dtype = ModelDtype.Resolve(requested, checkpoint);
        return dtype == ModelDtype.BFloat16 ? ScalarType.BFloat16 : dtype == ModelDtype.Float16 ? ScalarType.Float16 : ScalarType.Float32;
    }

    public static string DtypeName(ScalarType t) => t switch
    {
        ScalarType.Float32 => "float32",
        ScalarType.BFloat16 => "bfloat16",
        ScalarType.Float16 => "float16",
        _ => t.ToString(),
    };

    public float[] Step(IReadOnlyList<StepInput> batch)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        Validate(batch);
        var vocab = VocabSize;
        var result = new float[batch.Count * vocab];
        if (batch.Count == 0) return result;

        using var mode = inference_mode();
        // Work in rounds: every sequence contributes up to _prefillChunk tokens per round; a sequence's logits
        // come from the round that holds its last token.
        var done = new int[batch.Count];
        while (true)
        {
            var round = new List<(int Index, int Slot, int Position, ReadOnlyMemory<int> Tokens)>();
            for (var i = 0; i < batch.Count; i++)
            {
                var remaining = batch[i].Tokens.Length - done[i];
                if (remaining <= 0) continue;
                var take = Math.Min(remaining, _prefillChunk);
                round.Add((i, batch[i].Slot, batch[i].Position + done[i], batch[i].Tokens.Slice(done[i], take)));
                done[i] += take;
            }
            if (round.Count == 0) break;
            RunRound(round, result);
        }
        return result;
    }

    private void RunRound(List<(int Index, int Slot, int Position, ReadOnlyMemory<int> Tokens)> round, float[] result)
    {
        using var scope = NewDisposeScope();
        using var stepBatch = new StepBatch(round, Config.KeyValueGroups);
        // Decode steps: LibTorch's own ops are tiny, keep them on one thread so its OpenMP workers never spin
        // against the decode kernel's helper thread; prefill GEMMs get all threads.
        SetTorchThreads(stepBatch.RowCount > Projector.MaxManagedRows || !_projector.UsesManagedKernel ? _threads : 1);
        var logits = _model.ForwardStep(stepBatch, _cache, _projector);
        if (logits.dtype != ScalarType.Float32) logits = logits.to(ScalarType.Float32);
        logits = logits.contiguous();
        var vocab = VocabSize;
        var all = logits.data<float>();
        var sequences = stepBatch.Sequences;
        var rows = new float[sequences.Count * vocab];
        all.CopyTo(rows);
        for (var s = 0; s < sequences.Count; s++)
        {
            var seq = sequences[s];
            rows.AsSpan(s * vocab, vocab).CopyTo(result.AsSpan(seq.Index * vocab, vocab));
        }
    }

    private void SetTorchThreads(int n)
    {
        if (n == _torchThreads) return;
        set_num_threads(n);
        _torchThreads = n;
    }

    private void Validate(IReadOnlyList<StepInput> batch)
    {
        var slots = new HashSet<int>();
        foreach (var input in batch)
        {
            if (input.Slot < 0 || input.Slot >= Slots)
                throw new ArgumentOutOfRangeException(nameof(batch), $"slot {input.Slot} is outside 0..{Slots - 1}");
            if (!slots.Add(input.Slot))
                throw new ArgumentException($"slot {input.Slot} appears twice in one step", nameof(batch));
            if (input.Tokens.Length == 0)
                throw new ArgumentException($"slot {input.Slot}: no tokens", nameof(batch));
            if (input.Position < 0 || input.Position + input.Tokens.Length > MaxSequenceLength)
                throw new ArgumentOutOfRangeException(nameof(batch),
                    $"slot {input.Slot}: positions {input.Position}..{input.Position + input.Tokens.Length - 1} exceed max sequence length {MaxSequenceLength}");
            foreach (var t in input.Tokens.Span)
                if ((uint)t >= (uint)VocabSize)
                    throw new ArgumentOutOfRangeException(nameof(batch), $"slot {input.Slot}: token {t} is outside the vocabulary (0..{VocabSize - 1})");
        }
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _projector.Dispose();
        _cache.Dispose();
        _model.Dispose();
    }
}
