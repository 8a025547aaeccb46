namespace Bento.ModelGen;

/// <summary>
/// Everything <see cref="ModelFolderGenerator"/> needs to write a model folder.
/// </summary>
public sealed record ModelGenerationOptions
{
    /// <summary>Architecture; its vocab_size must be at least the tokenizer's total size and its
    /// bos/eos ids must be the tokenizer's &lt;|begin_of_text|&gt; / &lt;|end_of_text|&gt;.</summary>
    public required LlamaConfig Config { get; init; }

    public required LlamaTokenizer Tokenizer { get; init; }

    /// <summary>1 writes model.safetensors; N &gt; 1 writes N shards and an index.</summary>
    public int ShardCount { get; init; } = 1;

    /// <summary>Seed of the random init (ignored when <see cref="Weights"/> is given).</summary>
    public ulong Seed { get; init; } = 42;

    /// <summary>Real tensor values (e.g. from <see cref="LlamaWeights.FromValues"/>); null means
    /// random init from <see cref="Seed"/>.</summary>
    public IReadOnlyList<TensorSource>? Weights { get; init; }
}
