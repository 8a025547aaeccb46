namespace Bento.ModelGen;

/// <summary>
/// Knobs of <c>bento-modelgen random</c>: dimensions of a randomly initialised Llama model for tests
/// and benchmarks.
/// </summary>
public sealed record RandomModelSpec
{
    public int HiddenSize { get; init; } = 512;
    public int IntermediateSize { get; init; } = 1536;
    public int Layers { get; init; } = 2;
    public int Heads { get; init; } = 8;
    public int KeyValueHeads { get; init; } = 4;

    /// <summary>Llama (default), Qwen2 (q/k/v biases), Qwen3 (q/k norms), Phi3 (fused projections), Gemma2 or Gemma3.</summary>
    public ModelFamily Family { get; init; } = ModelFamily.Llama;

    /// <summary>The published config whose keys and non-size values to copy (see <see cref="PublishedConfigs"/>);
    /// null: the family's default (Phi-3-mini-4k, gemma-2-2b-it, gemma-3-1b-it; Llama and Qwen their built-in keys).
    /// Naming one sets <see cref="Family"/>.</summary>
    public string? Like { get; init; }

    /// <summary>Overrides the template's sliding_window (e.g. a small one so short tests cross it).</summary>
    public int? SlidingWindow { get; init; }

    /// <summary>Overrides the template's rope_scaling.</summary>
    public RopeScalingSpec? RopeScaling { get; init; }

    /// <summary>head_dim; null means hidden_size / heads.</summary>
    public int? HeadDim { get; init; }

    public double RopeTheta { get; init; } = 10000.0;

    /// <summary>vocab_size of the model; null means the tokenizer's total size. The tokenizer is trained
    /// to this size when the corpus allows; otherwise the embedding is larger than the tokenizer, which
    /// transformers accepts.</summary>
    public int? VocabSize { get; init; }

    public int MaxPositionEmbeddings { get; init; } = 2048;
    public bool TiedEmbeddings { get; init; }
    public string TorchDtype { get; init; } = "float32";
    public int Shards { get; init; } = 1;

    /// <summary>When set, <see cref="Layers"/> is ignored and the layer count is chosen so the weights
    /// total about this many bytes.</summary>
    public long? TargetBytes { get; init; }

    public ulong Seed { get; init; } = 42;
}
