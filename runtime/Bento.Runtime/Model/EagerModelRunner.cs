using TorchSharp;
using static TorchSharp.torch;

namespace Bento.Runtime.Model;

/// <summary>Options of <see cref="EagerModelRunner"/>.</summary>
public sealed record EagerRunnerOptions
{
    /// <summary>The weights' dtype: "auto" (config.json's torch_dtype, float32 when absent: the checkpoint is served
    /// as stored, mapped), "float32", "bfloat16" or "float16" (converted copies). int8 weights of a quantized
    /// checkpoint stay int8 whatever this says; it applies to the rest. Activations are float32 on the CPU (see
    /// <see cref="EagerModelRunner"/>).</summary>
    public string Dtype { get; init; } = "auto";

    /// <summary>Fixed slots for <see cref="StepInput"/>s that address a slot instead of a block table (benchmarks
    /// and model tests); each owns ceil(MaxSequenceLength / BlockSize) blocks. The engine uses block tables.</summary>
    public int Slots { get; init; } = 8;

    /// <summary>Tokens per sequence (prompt + generated); default min(max_position_embeddings, 2048).</summary>
    public int? MaxSequenceLength { get; init; }

    /// <summary>Blocks of <see cref="KvCache.BlockSize"/> tokens in the KV cache (the memory plan's); default: enough
    /// for <see cref="Slots"/> full-length sequences.</summary>
    public int? KvBlocks { get; init; }

    /// <summary>Where weights and the KV cache live: "cpu" (default) or "cuda" / "cuda:N" (with a CUDA build of
    /// LibTorch; the managed kernels are CPU-only, LibTorch's ops run everything there).</summary>
    public string Device { get; init; } = "cpu";

    /// <summary>Threads for LibTorch's prefill GEMMs and the decode kernel; default: all cores.</summary>
    public int Threads { get; init; } = Environment.ProcessorCount;

    /// <summary>Longest piece of a prompt that goes through one forward; longer prompts are split.</summary>
    public int PrefillChunk { get; init; } = 512;

    /// <summary>Copy the weights into process memory (64-byte aligned) instead of using views of the file mapping;
    /// the mapping is dropped, so weights are held once either way (anonymous instead of file-backed pages). Costs a
    /// full read at start-up; can speed up decode a little (see Model/README.md).</summary>
    public bool CopyWeights { get; init; }

    /// <summary>False forces LibTorch's matrix multiplies and attention for decode too (for comparison).</summary>
    public bool ManagedDecodeKernel { get; init; } = true;
}

/// <summary>
/// Runs the model op by op on the CPU (no graphs). Each <see cref="Step"/> is one batched forward: all token rows of
/// all sequences (decode tokens and prefill chunks alike) go through each weight matrix together, so the weights are
/// read once per step for the whole batch - what makes continuous batching pay on memory-bound CPUs. Prompts longer
/// than <see cref="EagerRunnerOptions.PrefillChunk"/> take several forwards.
/// </summary>
/// <remarks>
/// Activations, norms and the KV cache are float32 on the CPU whatever the weights' dtype (<see cref="ModelDtype.Activation"/>):
/// decode is bound by reading the weights, which the managed kernels widen as they read them, so bfloat16 or int8
/// weights already halve or quarter the bytes per token; bfloat16 activations would save nothing measurable there,
/// x86 CPUs without AVX512_BF16/AMX have no fast bfloat16 arithmetic anyway, and float32 keeps the logits close to a
/// float32 reference. The price is a float32 KV cache (twice a bfloat16 one), which the memory plan counts.
/// A CUDA-graph runner would implement <see cref="IModelRunner"/> beside this one (chosen by
/// <see cref="ModelRunnerFactory"/>) and reuse <see cref="LlamaForCausalLM"/> and <see cref="KvCache"/> (allocated on
/// the GPU, as <see cref="EagerRunnerOptions.Device"/> already allows). Its decode inputs come from
/// <see cref="StepBatch"/> with a <see cref="DecodeShape"/>: rows padded to the batch bucket (1, 2, 4, 8, ...), block
/// tables padded to ceil(max_model_len / BlockSize) columns, padded rows writing the scratch block, so tokens,
/// positions, cache slots, block tables and the mask have one shape per bucket (tested). What it needs on top: static
/// input buffers per bucket refreshed with copy_ before each replay; the KV write with device-side index tensors
/// (index_put_ as here, never host loops); no host syncs inside the captured region; prefill kept eager; capture the
/// largest bucket first into one shared memory pool through a small C++ shim (TorchSharp 0.107 cannot capture graphs).
/// </remarks>
public sealed class EagerModelRunner : IModelRunner
{
    private readonly LlamaForCausalLM _model;
    private readonly KvCache _cache;
    private readonly Projector _projector;
    private readonly int _threads;
    private readonly int _prefillChunk;
    private readonly Device _device;
    private int _torchThreads = -1;
    private bool _disposed;

    public EagerModelRunner(ModelConfig config, SafetensorsCheckpoint checkpoint, EagerRunnerOptions? options = null)
    {
        options ??= new EagerRunnerOptions();
        Config = config;
        var dtype = ResolveDtype(options.Dtype, config.TorchDtype);
        MaxSequenceLength = options.MaxSequenceLength ?? Math.Min(config.MaxPositionEmbeddings, 2048);
        if (MaxSequenceLength <= 0) throw new ArgumentException("MaxSequenceLength must be positive");
        if (options.Slots < 0) throw new ArgumentException("Slots must not be negative");
        config.CheckServable(MaxSequenceLength);
        Slots = options.Slots;
        BlocksPerSlot = (MaxSequenceLength + KvCache.BlockSize - 1) / KvCache.BlockSize;
        KvBlocks = options.KvBlocks ?? Slots * BlocksPerSlot;
        if (KvBlocks <= 0) throw new ArgumentException("the KV cache needs at least one block: set KvBlocks or Slots");
        _threads = Math.Max(1, options.Threads);
        _prefillChunk = Math.Max(1, options.PrefillChunk);
        _device = new Device(options.Device);
        var compute = ToScalarType(ModelDtype.Activation(onCpu: _device.type == DeviceType.CPU, FromScalarType(dtype)));

        using (inference_mode())
        {
            _model = LlamaForCausalLM.FromCheckpoint(config, checkpoint, dtype, copy: options.CopyWeights, computeDtype: compute);
            if (_device.type != DeviceType.CPU) _model.to(_device);
            _model.eval();
            _model.ContextLength = MaxSequenceLength; // RoPE tables, and LongRoPE's choice of factors
            _cache = new KvCache(config, KvBlocks, compute, _device, options.ManagedDecodeKernel);
        }
        _projector = new Projector(options.ManagedDecodeKernel && _device.type == DeviceType.CPU ? _threads : 0);
        var weightBytes = _model.parameters().Sum(p => p.NumberOfElements * p.ElementSize);
        Info = new RunnerInfo(options.Device, DtypeName(dtype), false,
            _device.type == DeviceType.CPU ? "unavailable on CPU (enforce_eager has no effect here)" : "off: eager runner",
            weightBytes, _cache.Bytes, KvBlocks)
        {
            ActivationDtype = DtypeName(compute),
            Quantization = DescribeQuantization(_model),
            DecodeKernel = _projector.Describe(),
            WeightPages = WeightFilePages.Describe(checkpoint.Pages),
        };
    }

    /// <summary>Opens config.json and the safetensors checkpoint of a model folder.</summary>
    /// <param name="config">The folder's config.json when the caller has read it already.</param>
    public static EagerModelRunner Open(string modelDirectory, EagerRunnerOptions? options = null, ModelConfig? config = null)
    {
        config ??= ModelConfig.Load(modelDirectory);
        options ??= new EagerRunnerOptions();
        using var checkpoint = SafetensorsCheckpoint.Open(modelDirectory, config.Family.CanonicalTensorName,
            preparePages: new Device(options.Device).type == DeviceType.CPU && !options.CopyWeights);
        return new EagerModelRunner(config, checkpoint, options);
    }

    public ModelConfig Config { get; }
    public LlamaForCausalLM Model => _model;
    public int VocabSize => Config.VocabSize;
    public int Slots { get; }
    /// <summary>Blocks a fixed slot owns: ceil(MaxSequenceLength / BlockSize).</summary>
    public int BlocksPerSlot { get; }
    public int KvBlocks { get; }
    public int MaxSequenceLength { get; }
    public RunnerInfo Info { get; }

    /// <summary>The dtype setting (or, for auto, the checkpoint's) as LibTorch's scalar type.</summary>
    public static ScalarType ResolveDtype(string requested, ModelDtype? checkpoint)
    {
        if (ModelDtype.CanonicalSetting(requested) is null)
            throw new ArgumentException($"dtype '{requested}' is not supported; {ModelDtype.Choices}");
        return ToScalarType(ModelDtype.Resolve(requested, checkpoint));
    }

    internal static ScalarType ToScalarType(ModelDtype d) =>
        d == ModelDtype.BFloat16 ? ScalarType.BFloat16 : d == ModelDtype.Float16 ? ScalarType.Float16 : ScalarType.Float32;

    private static ModelDtype FromScalarType(ScalarType t) =>
        t == ScalarType.BFloat16 ? ModelDtype.BFloat16 : t == ScalarType.Float16 ? ModelDtype.Float16 : ModelDtype.Float32;

    /// <summary>"int8 per-channel: 113 of 114 matrices (model.embed_tokens.weight stays bfloat16)"; null when nothing is quantized.</summary>
    private static string? DescribeQuantization(LlamaForCausalLM model)
    {
        var matrices = model.named_modules().Select(m => (m.name, Matrix: m.module switch
        {
            LlamaLinear l => l.Matrix,
            LlamaEmbedding e => e.Matrix,
            _ => null,
        })).Where(m => m.Matrix is not null).ToList();
        var quantized = matrices.Where(m => m.Matrix!.IsQuantized).ToList();
        if (quantized.Count == 0) return null;
        var kinds = string.Join(", ", quantized.Select(m => m.Matrix!.Describe()).Distinct());
        var dense = matrices.Where(m => !m.Matrix!.IsQuantized).ToList();
        return $"{kinds}: {quantized.Count} of {matrices.Count} matrices" +
               (dense.Count == 0 ? "" : $" ({string.Join(", ", dense.Take(3).Select(m => m.name + ".weight"))}{(dense.Count > 3 ? ", ..." : "")} not quantized)");
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
        var tables = Validate(batch);
        var vocab = VocabSize;
        var result = new float[batch.Count * vocab];
        if (batch.Count == 0) return result;

        using var mode = inference_mode();
        // Work in rounds: every sequence contributes up to _prefillChunk tokens per round; a sequence's logits
        // come from the round that holds its last token.
        var done = new int[batch.Count];
        while (true)
        {
            var round = new List<(int Index, int[] Blocks, int Position, ReadOnlyMemory<int> Tokens)>();
            for (var i = 0; i < batch.Count; i++)
            {
                var remaining = batch[i].Tokens.Length - done[i];
                if (remaining <= 0) continue;
                var take = Math.Min(remaining, _prefillChunk);
                round.Add((i, tables[i], batch[i].Position + done[i], batch[i].Tokens.Slice(done[i], take)));
                done[i] += take;
            }
            if (round.Count == 0) break;
            RunRound(round, result);
        }
        return result;
    }

    /// <summary>
    /// Runs one forward of <paramref name="inputs"/> (at most <see cref="EagerRunnerOptions.PrefillChunk"/> tokens each)
    /// with the decode rows padded to <paramref name="shape"/> when given, as a graph runner would: the seam's test
    /// checks padding leaves every real row's logits unchanged. Returns [inputs.Count, VocabSize].
    /// </summary>
    public float[] StepPadded(IReadOnlyList<StepInput> inputs, DecodeShape shape)
    {
        var tables = Validate(inputs);
        var result = new float[inputs.Count * VocabSize];
        using var mode = inference_mode();
        RunRound(inputs.Select((s, i) => (i, tables[i], s.Position, s.Tokens)).ToList(), result, shape);
        return result;
    }

    /// <summary>The fixed decode shape of a batch bucket for this runner: block tables as wide as
    /// <see cref="MaxSequenceLength"/> needs, padding into the cache's scratch block.</summary>
    public DecodeShape DecodeShapeFor(int bucket) => new(bucket, BlocksPerSlot, _cache.ScratchBlock);

    private void RunRound(List<(int Index, int[] Blocks, int Position, ReadOnlyMemory<int> Tokens)> round, float[] result, DecodeShape? shape = null)
    {
        using var scope = NewDisposeScope();
        using var stepBatch = new StepBatch(round, Config.KeyValueGroups, _device, shape);
        // Decode steps: LibTorch's own ops are tiny, keep them on one thread so its OpenMP workers never spin
        // against the decode kernel's helper thread; prefill GEMMs get all threads.
        SetTorchThreads(stepBatch.RowCount > Projector.MaxManagedRows || !_projector.UsesManagedKernel ? _threads : 1);
        var logits = _model.ForwardStep(stepBatch, _cache, _projector, _threads);
        if (logits.dtype != ScalarType.Float32) logits = logits.to(ScalarType.Float32);
        if (logits.device_type != DeviceType.CPU) logits = logits.cpu();
        logits = logits.contiguous();
        var vocab = VocabSize;
        var sequences = stepBatch.Sequences;
        // Straight from the tensor into each sequence's row: no intermediate array (a 128k vocabulary makes every
        // array of logits a large-object-heap allocation).
        var all = logits.bytes;
        for (var s = 0; s < sequences.Count; s++)
            System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(all).Slice(s * vocab, vocab).CopyTo(result.AsSpan(sequences[s].Index * vocab, vocab));
    }

    private void SetTorchThreads(int n)
    {
        if (n == _torchThreads) return;
        set_num_threads(n);
        _torchThreads = n;
    }

    /// <summary>
    /// Checks a step and returns each input's block table. Refused: a slot or block outside the cache, positions past
    /// MaxSequenceLength, a block table too short for the positions written, tokens outside the vocabulary, and two
    /// inputs writing the same cache position (a shared block is read-only: only positions no one else holds are
    /// written).
    /// </summary>
    private int[][] Validate(IReadOnlyList<StepInput> batch)
    {
        var tables = new int[batch.Count][];
        var written = new HashSet<long>();
        for (var i = 0; i < batch.Count; i++)
        {
            var input = batch[i];
            var name = input.IsPaged ? $"input {i}" : $"slot {input.Slot}";
            if (input.Tokens.Length == 0)
                throw new ArgumentException($"{name}: no tokens", nameof(batch));
            if (input.Position < 0 || input.Position + input.Tokens.Length > MaxSequenceLength)
                throw new ArgumentOutOfRangeException(nameof(batch),
                    $"{name}: positions {input.Position}..{input.Position + input.Tokens.Length - 1} exceed max sequence length {MaxSequenceLength}");
            var end = input.Position + input.Tokens.Length;
            var needed = (end + KvCache.BlockSize - 1) / KvCache.BlockSize;
            if (input.IsPaged)
            {
                if (input.Blocks.Length < needed)
                    throw new ArgumentException($"{name}: {input.Blocks.Length} blocks cannot hold positions up to {end - 1}", nameof(batch));
                tables[i] = input.Blocks.ToArray();
                foreach (var b in tables[i].AsSpan(0, needed))
                    if ((uint)b >= (uint)KvBlocks)
                        throw new ArgumentOutOfRangeException(nameof(batch), $"{name}: block {b} is outside 0..{KvBlocks - 1}");
            }
            else
            {
                if (input.Slot >= Slots || (long)(input.Slot + 1) * BlocksPerSlot > KvBlocks)
                    throw new ArgumentOutOfRangeException(nameof(batch), $"slot {input.Slot} is outside 0..{Math.Min(Slots, KvBlocks / BlocksPerSlot) - 1}");
                tables[i] = Enumerable.Range(input.Slot * BlocksPerSlot, BlocksPerSlot).ToArray();
            }
            for (var p = input.Position; p < end; p++)
                if (!written.Add((long)tables[i][p / KvCache.BlockSize] * KvCache.BlockSize + p % KvCache.BlockSize))
                    throw new ArgumentException($"{name}: position {p} is written by another input of the same step", nameof(batch));
            foreach (var t in input.Tokens.Span)
                if ((uint)t >= (uint)VocabSize)
                    throw new ArgumentOutOfRangeException(nameof(batch), $"{name}: token {t} is outside the vocabulary (0..{VocabSize - 1})");
        }
        return tables;
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
