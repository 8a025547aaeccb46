namespace Bento.Runtime.Model;

/// <summary>
/// One sequence's part of a forward step: <see cref="Tokens"/> to append to its KV cache at positions
/// [Position, Position + Tokens.Length). Where its keys and values live is its block table: position p is offset
/// p % <see cref="KvCache.BlockSize"/> of block <c>Blocks[p / BlockSize]</c>. The scheduler owns block tables
/// (<see cref="Engine.KvCacheManager"/>); several sequences may list the same (full, already written) block, which is
/// how a shared prefix is stored once.
/// </summary>
/// <remarks>
/// <see cref="StepInput(int, int, ReadOnlyMemory{int})"/> addresses a fixed "slot" instead: slot s owns the blocks
/// [s * B, (s + 1) * B) with B = ceil(MaxSequenceLength / BlockSize). That is a convenience for benchmarks and model
/// tests that drive the runner directly; the engine always passes block tables.
/// </remarks>
public readonly record struct StepInput
{
    /// <summary>A sequence in slot <paramref name="slot"/> (fixed blocks, see the remarks).</summary>
    public StepInput(int slot, int position, ReadOnlyMemory<int> tokens)
    {
        Slot = slot;
        Position = position;
        Tokens = tokens;
    }

    private StepInput(ReadOnlyMemory<int> blocks, int position, ReadOnlyMemory<int> tokens)
    {
        Slot = -1;
        Blocks = blocks;
        Position = position;
        Tokens = tokens;
    }

    /// <summary>A sequence whose KV cache is the block table <paramref name="blocks"/>; it must cover every position
    /// up to Position + Tokens.Length.</summary>
    public static StepInput Paged(ReadOnlyMemory<int> blocks, int position, ReadOnlyMemory<int> tokens) => new(blocks, position, tokens);

    /// <summary>The fixed slot, or -1 for a paged input.</summary>
    public int Slot { get; init; }
    public ReadOnlyMemory<int> Blocks { get; init; }
    public int Position { get; init; }
    public ReadOnlyMemory<int> Tokens { get; init; }
    public bool IsPaged => Slot < 0;
}

/// <summary>What /health reports about the model runner. <see cref="Dtype"/> is the weights' (float) dtype.</summary>
/// <param name="KvBlocks">Blocks of <see cref="KvCache.BlockSize"/> tokens the KV cache holds.</param>
public sealed record RunnerInfo(string Device, string Dtype, bool CudaGraphs, string GraphState, long WeightBytes, long KvCacheBytes, int KvBlocks = 0)
{
    public long KvTokens => (long)KvBlocks * KvCache.BlockSize;

    /// <summary>The dtype of activations and of the KV cache.</summary>
    public string? ActivationDtype { get; init; }

    /// <summary>The int8 weight quantization in use (format, which matrices); null for float weights.</summary>
    public string? Quantization { get; init; }

    /// <summary>What multiplies decode-sized batches.</summary>
    public string? DecodeKernel { get; init; }

    /// <summary>How much of the mapped weights the CPU reads through 2 MiB pages (<see cref="WeightFilePages"/>); null
    /// when the weights are not read from mapped files or the files are small.</summary>
    public string? WeightPages { get; init; }
}

/// <summary>
/// The model runner (vLLM's layering: engine -> scheduler -> model runner -> model). It owns the weights and a paged
/// KV cache of <see cref="KvBlocks"/> blocks, allocated on the runner's device. The eager runner runs every step op by
/// op; a CUDA-graph runner (one captured graph per decode batch bucket, see <see cref="StepBatch"/>'s bucket padding)
/// implements the same interface. <see cref="ModelRunnerFactory"/> picks one. All calls come from the engine's single
/// model thread.
/// </summary>
public interface IModelRunner : IDisposable
{
    int VocabSize { get; }

    /// <summary>Usable KV-cache blocks (ids 0 .. KvBlocks - 1).</summary>
    int KvBlocks { get; }

    /// <summary>The longest sequence (prompt + generated) a step may address.</summary>
    int MaxSequenceLength { get; }

    RunnerInfo Info { get; }

    /// <summary>
    /// Appends each input's tokens to its KV cache at [Position, Position + Tokens.Length) and returns the logits
    /// of each input's last token: row-major [batch.Count, VocabSize] float32. Positions before Position must have
    /// been written by earlier steps (by this sequence or, for a shared block, by another).
    /// </summary>
    float[] Step(IReadOnlyList<StepInput> batch);
}
