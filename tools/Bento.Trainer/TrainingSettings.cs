namespace Bento.Trainer;

/// <summary>
/// Hyperparameters of a training run. The defaults are the ones the committed examples/tiny-llama weights were
/// trained with; change them and the weights change.
/// </summary>
public sealed record TrainingSettings
{
    /// <summary>Optimizer steps.</summary>
    public int Steps { get; init; } = 800;

    /// <summary>Seeds the weight init, the training corpus and the batch sampling.</summary>
    public ulong Seed { get; init; } = 42;

    /// <summary>LibTorch intra-op threads. Part of the reproducibility contract: CPU reductions split their work
    /// by thread count, so another count gives (slightly) different floating-point results. One by default: the
    /// matrices are small (2048 x 128 x 384 at most), so a second thread gains little, while OpenMP workers that
    /// spin at barriers make multi-threaded steps several times slower on a busy machine; and a fixed default makes
    /// the committed weights reproducible whatever the core count.</summary>
    public int Threads { get; init; } = 1;

    /// <summary>Sequences per batch.</summary>
    public int BatchSize { get; init; } = 32;

    /// <summary>Tokens per training sequence (inputs; targets are the same window shifted by one).</summary>
    public int SequenceLength { get; init; } = 64;

    /// <summary>Lines of synthetic corpus to train on (generated with <see cref="Seed"/>).</summary>
    public int CorpusLines { get; init; } = 60_000;

    /// <summary>Held-out lines (another seed) for the validation loss.</summary>
    public int ValidationLines { get; init; } = 2_000;

    public double PeakLearningRate { get; init; } = 2e-3;
    public double MinLearningRate { get; init; } = 1e-4;
    public int WarmupSteps { get; init; } = 100;

    /// <summary>AdamW's decoupled weight decay, applied to matrices only (embeddings, projections, head), never to
    /// RMSNorm scales.</summary>
    public double WeightDecay { get; init; } = 0.1;

    public double Beta1 { get; init; } = 0.9;
    public double Beta2 { get; init; } = 0.95;

    /// <summary>Global gradient-norm clip.</summary>
    public double ClipNorm { get; init; } = 1.0;

    /// <summary>Standard deviation of the normal init of every matrix (norm scales start at 1).</summary>
    public double InitStd { get; init; } = 0.02;

    /// <summary>Print the mean training loss (and the validation loss) every this many steps.</summary>
    public int LogEvery { get; init; } = 100;

    public void Validate()
    {
        static void Positive(string name, double value)
        {
            if (!(value > 0)) throw new ArgumentException($"{name} must be positive, got {value}");
        }
        Positive("steps", Steps);
        Positive("threads", Threads);
        Positive("batch size", BatchSize);
        Positive("sequence length", SequenceLength);
        Positive("corpus lines", CorpusLines);
        Positive("validation lines", ValidationLines);
        Positive("peak learning rate", PeakLearningRate);
        Positive("log interval", LogEvery);
        if (MinLearningRate < 0 || MinLearningRate > PeakLearningRate)
            throw new ArgumentException($"min learning rate must be in [0, peak], got {MinLearningRate}");
        if (WarmupSteps < 0) throw new ArgumentException($"warmup steps must not be negative, got {WarmupSteps}");
        if (WeightDecay < 0) throw new ArgumentException($"weight decay must not be negative, got {WeightDecay}");
        if (ClipNorm <= 0) throw new ArgumentException($"clip norm must be positive, got {ClipNorm}");
    }
}
