using Bento.ModelGen;
using Bento.Runtime.Model;
using Bento.Runtime.Tokenization;
using static Bento.Runtime.Tests.Model.ModelTestSupport;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Bento.Runtime.Tests.Training;

/// <summary>
/// The model the runtime serves is also trainable, the way tools/Bento.Trainer trains the example: autograd through
/// <see cref="LlamaForCausalLM.forward"/>, AdamW, gradient clipping and next-token cross-entropy on packed
/// &lt;|begin_of_text|&gt; line &lt;|end_of_text|&gt; windows of the synthetic corpus. A tiny config, a few steps.
/// </summary>
[Collection(TrainingCollection.Name)]
public sealed class TrainingSmokeTests
{
    private const int Batch = 8, Length = 32;

    private static ModelConfig TinyConfig(int vocab) => new()
    {
        VocabSize = vocab,
        HiddenSize = 32,
        IntermediateSize = 64,
        NumHiddenLayers = 2,
        NumAttentionHeads = 2,
        NumKeyValueHeads = 1,
        HeadDim = 16,
        MaxPositionEmbeddings = 64,
        RmsNormEps = 1e-5,
        TorchDtype = ModelDtype.Float32,
    };

    /// <summary><paramref name="batches"/> batches of <see cref="Batch"/> windows of Length + 1 tokens packed from
    /// corpus lines, each window starting at a line's BOS.</summary>
    private static List<long[]> Batches(HfTokenizer tokenizer, int batches)
    {
        var stream = new List<long>();
        var starts = new List<int>();
        foreach (var line in SyntheticCorpus.Lines(7, 400))
        {
            starts.Add(stream.Count);
            stream.AddRange(tokenizer.Encode(line, addSpecialTokens: true).Select(t => (long)t)); // BOS line
            stream.Add(tokenizer.EosTokenId!.Value);
        }
        var random = new DeterministicRandom(11);
        var usable = starts.Count(s => s + Length + 1 <= stream.Count);
        var result = new List<long[]>();
        for (var n = 0; n < batches; n++)
        {
            var windows = new long[Batch * (Length + 1)];
            for (var b = 0; b < Batch; b++)
                stream.CopyTo(starts[random.NextInt(usable)], windows, b * (Length + 1), Length + 1);
            result.Add(windows);
        }
        return result;
    }

    private static Tensor Loss(LlamaForCausalLM model, long[] windows, int batch)
    {
        var all = tensor(windows, [batch, Length + 1]);
        var logits = model.forward(all.narrow(1, 0, Length));
        return F.cross_entropy(logits.reshape(-1, logits.shape[^1]), all.narrow(1, 1, Length).reshape(-1));
    }

    /// <summary>Trains <paramref name="steps"/> steps on one fixed set of batches; returns (loss before, loss of
    /// each step).</summary>
    private static (double Before, List<double> Losses) Train(int steps)
    {
        var tokenizer = HfTokenizer.Load(TinyLlama);
        var config = TinyConfig(tokenizer.VocabSize);
        var batches = Batches(tokenizer, 4);
        using var model = LlamaForCausalLM.CreateRandom(config, seed: 3, requiresGrad: true);
        model.train();
        var parameters = model.parameters().ToList();
        Assert.All(parameters, p => Assert.True(p.requires_grad));
        using var optimizer = TorchSharp.torch.optim.AdamW(parameters, lr: 1e-2, beta1: 0.9, beta2: 0.95, weight_decay: 0.01);

        double before;
        using (no_grad())
        using (NewDisposeScope())
            before = Loss(model, batches[0], Batch).item<float>();

        var losses = new List<double>();
        for (var step = 0; step < steps; step++)
        {
            using var scope = NewDisposeScope();
            var loss = Loss(model, batches[step % batches.Count], Batch);
            optimizer.zero_grad();
            loss.backward();
            var norm = TorchSharp.torch.nn.utils.clip_grad_norm_(parameters, 1.0);
            Assert.True(double.IsFinite(norm) && norm > 0, $"step {step}: gradient norm {norm}");
            optimizer.step();
            losses.Add(loss.item<float>());
        }
        return (before, losses);
    }

    [Fact]
    public void AFewAdamWStepsLowerTheNextTokenLoss()
    {
        var (before, losses) = Train(steps: 40);
        // A random init predicts ~uniformly over 512 tokens: ln(512) = 6.24.
        Assert.InRange(before, 5.5, 7.0);
        var last = losses.TakeLast(4).Average();
        Assert.True(last < before - 1.5, $"loss {before:F3} -> {last:F3} after {losses.Count} steps: {string.Join(", ", losses.Select(l => l.ToString("F2")))}");
    }

    [Fact]
    public void TrainingIsDeterministicForAFixedSeedAndThreadCount()
    {
        var first = Train(steps: 5).Losses;
        var second = Train(steps: 5).Losses;
        Assert.Equal(first, second);
    }
}

/// <summary>Runs alone: LibTorch's CPU thread count (which other tests' runners change) must not move between the two
/// runs of the determinism test.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TrainingCollection
{
    public const string Name = "training (not parallel)";
}
