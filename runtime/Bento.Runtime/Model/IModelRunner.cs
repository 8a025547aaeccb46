namespace Bento.Runtime.Model;

/// <summary>One sequence's part of a forward step: tokens to append to its KV-cache slot, starting at Position.</summary>
public readonly record struct StepInput(int Slot, int Position, ReadOnlyMemory<int> Tokens);

/// <summary>What /health reports about the model runner. <see cref="Dtype"/> is the weights' (float) dtype.</summary>
public sealed record RunnerInfo(string Device, string Dtype, bool CudaGraphs, string GraphState, long WeightBytes, long KvCacheBytes)
{
    /// <summary>The dtype of activations and of the KV cache.</summary>
    public string? ActivationDtype { get; init; }

    /// <summary>The int8 weight quantization in use (format, which matrices); null for float weights.</summary>
    public string? Quantization { get; init; }

    /// <summary>What multiplies decode-sized batches.</summary>
    public string? DecodeKernel { get; init; }
}

/// <summary>
/// The model runner (vLLM's layering: engine -> scheduler -> model runner -> model). It owns the weights and a KV cache
/// preallocated for <see cref="Slots"/> sequences of up to <see cref="MaxSequenceLength"/> tokens. The eager runner
/// runs every step op by op; a CUDA-graph runner (one captured graph per batch bucket) implements the same interface.
/// All calls come from the engine's single model thread.
/// </summary>
public interface IModelRunner : IDisposable
{
    int VocabSize { get; }
    int Slots { get; }
    int MaxSequenceLength { get; }
    RunnerInfo Info { get; }

    /// <summary>
    /// Appends each input's tokens to its slot's KV cache at [Position, Position + Tokens.Length) and returns the logits
    /// of each input's last token: row-major [batch.Count, VocabSize] float32.
    /// </summary>
    float[] Step(IReadOnlyList<StepInput> batch);
}
