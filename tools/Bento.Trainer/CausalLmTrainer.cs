using Bento.Core.Model;
using System.Diagnostics;
using Bento.ModelGen;
using Bento.Runtime.Model;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Bento.Trainer;

/// <summary>Loss of one logged interval.</summary>
public sealed record TrainingLogEntry(int Step, double LearningRate, double TrainLoss, double ValidationLoss, TimeSpan Elapsed);

/// <summary>What a run produced: the trained tensors by Hugging Face name, and the loss history.</summary>
public sealed record TrainingResult(
    IReadOnlyDictionary<string, ReadOnlyMemory<float>> Weights,
    IReadOnlyList<TrainingLogEntry> Log,
    double InitialValidationLoss,
    double FinalValidationLoss,
    long Parameters,
    TimeSpan Elapsed);

/// <summary>
/// Next-token training of <see cref="LlamaForCausalLM"/> (the runtime's own model, so the forward that is trained is
/// the forward that serves) on ModelGen's synthetic corpus: AdamW, linear warmup + cosine learning rate, global
/// gradient-norm clipping, mean cross-entropy over every position of every packed window.
/// </summary>
/// <remarks>
/// Reproducibility: the init (its own generator, seeded), the corpus and the batch order (ModelGen's
/// <see cref="DeterministicRandom"/>) depend only on the seed; the arithmetic is LibTorch's CPU kernels, which are
/// deterministic for a fixed thread count (no atomics on CPU), but reductions split by thread count, so a different
/// <see cref="TrainingSettings.Threads"/> or another LibTorch build/CPU instruction set may change low-order bits and,
/// over many steps, the weights. Everything runs on the calling thread (LibTorch's grad mode and thread count are
/// per thread).
/// </remarks>
public sealed class CausalLmTrainer
{
    private readonly LlamaConfig _config;
    private readonly LlamaTokenizer _tokenizer;
    private readonly TrainingSettings _settings;
    private readonly TextWriter _log;

    public CausalLmTrainer(LlamaConfig config, LlamaTokenizer tokenizer, TrainingSettings settings, TextWriter? log = null)
    {
        settings.Validate();
        _config = config;
        _tokenizer = tokenizer;
        _settings = settings;
        _log = log ?? TextWriter.Null;
    }

    /// <summary>The runtime's view of a ModelGen config (the same config.json).</summary>
    public static ModelConfig RuntimeConfig(LlamaConfig config) =>
        ModelConfig.Parse(System.Text.Encoding.UTF8.GetString(config.ToConfigJson()));

    public TrainingResult Train()
    {
        var s = _settings;
        var total = Stopwatch.StartNew();
        torch.set_num_threads(s.Threads);
        torch.manual_seed((long)(s.Seed & long.MaxValue));

        var train = PackedCorpus.Build(_tokenizer, SyntheticCorpus.Lines(s.Seed, s.CorpusLines));
        // Held-out text from an unrelated seed (the same generator, so the same distribution).
        var heldOut = PackedCorpus.Build(_tokenizer, SyntheticCorpus.Lines(s.Seed ^ 0x5DEECE66DUL, s.ValidationLines));
        _log.WriteLine($"corpus: {train.LineCount} lines, {train.TokenCount} tokens (validation: {heldOut.LineCount} lines, {heldOut.TokenCount} tokens)");

        var runtimeConfig = RuntimeConfig(_config);
        using var model = LlamaForCausalLM.CreateRandom(runtimeConfig, (long)(s.Seed & long.MaxValue), ScalarType.Float32, s.InitStd, requiresGrad: true);
        model.train();
        var named = model.named_parameters().ToList();
        CheckNames(runtimeConfig, named);
        var parameters = named.Select(p => p.parameter).ToList();
        var count = parameters.Sum(p => p.numel());
        _log.WriteLine($"model: {count:N0} parameters; batch {s.BatchSize} x {s.SequenceLength} tokens, {s.Steps} steps, {s.Threads} thread(s)");

        // Weight decay for matrices only: decaying the RMSNorm scales towards 0 would fight the normalisation.
        var decayed = named.Where(p => p.parameter.dim() >= 2).Select(p => p.parameter).ToList();
        var undecayed = named.Where(p => p.parameter.dim() < 2).Select(p => p.parameter).ToList();
        using var optimizer = optim.AdamW(
            [
                new AdamW.ParamGroup(decayed, lr: s.PeakLearningRate, beta1: s.Beta1, beta2: s.Beta2, eps: 1e-8, weight_decay: s.WeightDecay),
                new AdamW.ParamGroup(undecayed, lr: s.PeakLearningRate, beta1: s.Beta1, beta2: s.Beta2, eps: 1e-8, weight_decay: 0.0),
            ],
            lr: s.PeakLearningRate, beta1: s.Beta1, beta2: s.Beta2);

        var validation = heldOut.FixedWindows(16, s.SequenceLength);
        var initialValidation = Evaluate(model, validation, s.SequenceLength);
        _log.WriteLine($"step     0  val loss {initialValidation:F4}");

        var random = new DeterministicRandom(s.Seed * 0x9E3779B97F4A7C15UL + 1);
        var log = new List<TrainingLogEntry>();
        double intervalLoss = 0;
        var intervalSteps = 0;
        var lastValidation = initialValidation;
        for (var step = 0; step < s.Steps; step++)
        {
            var lr = LearningRateSchedule.At(step, s.Steps, s.WarmupSteps, s.PeakLearningRate, s.MinLearningRate);
            foreach (var group in optimizer.ParamGroups)
                group.LearningRate = lr;

            using (var scope = NewDisposeScope())
            {
                var windows = train.SampleWindows(random, s.BatchSize, s.SequenceLength);
                var loss = Loss(model, windows, s.BatchSize, s.SequenceLength);
                optimizer.zero_grad();
                loss.backward();
                nn.utils.clip_grad_norm_(parameters, s.ClipNorm);
                optimizer.step();
                intervalLoss += loss.item<float>();
                intervalSteps++;
            }

            var last = step == s.Steps - 1;
            if ((step + 1) % s.LogEvery == 0 || last)
            {
                model.eval();
                lastValidation = Evaluate(model, validation, s.SequenceLength);
                model.train();
                var entry = new TrainingLogEntry(step + 1, lr, intervalLoss / intervalSteps, lastValidation, total.Elapsed);
                log.Add(entry);
                _log.WriteLine($"step {entry.Step,5}  lr {entry.LearningRate:E2}  train loss {entry.TrainLoss:F4}  val loss {entry.ValidationLoss:F4}  {entry.Elapsed.TotalSeconds,6:F1}s");
                intervalLoss = 0;
                intervalSteps = 0;
            }
        }

        var weights = new Dictionary<string, ReadOnlyMemory<float>>(StringComparer.Ordinal);
        using (no_grad())
            foreach (var (name, parameter) in named)
            {
                using var values = parameter.detach().contiguous();
                weights[name] = values.data<float>().ToArray();
            }
        return new TrainingResult(weights, log, initialValidation, lastValidation, count, total.Elapsed);
    }

    /// <summary>Mean next-token cross-entropy of [batch, length + 1] windows.</summary>
    private Tensor Loss(LlamaForCausalLM model, long[] windows, int batch, int length)
    {
        var all = tensor(windows, [batch, length + 1]);
        var inputs = all.narrow(1, 0, length);
        var targets = all.narrow(1, 1, length).reshape(-1);
        var logits = model.forward(inputs);
        return F.cross_entropy(logits.reshape(-1, logits.shape[^1]), targets);
    }

    private double Evaluate(LlamaForCausalLM model, long[] windows, int length)
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var batch = windows.Length / (length + 1);
        return Loss(model, windows, batch, length).item<float>();
    }

    /// <summary>The module's parameter names must be exactly the checkpoint's tensor names, or the weights would be
    /// written under the wrong names.</summary>
    private void CheckNames(ModelConfig runtimeConfig, List<(string name, Parameter parameter)> named)
    {
        var expected = LlamaWeights.Describe(_config).Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
        var actual = named.Select(p => p.name).ToHashSet(StringComparer.Ordinal);
        if (!expected.SetEquals(actual) || !expected.SetEquals(LlamaForCausalLM.WeightNames(runtimeConfig)))
            throw new InvalidOperationException(
                "the model's parameter names differ from the checkpoint's: missing [" +
                string.Join(", ", expected.Except(actual)) + "], unexpected [" + string.Join(", ", actual.Except(expected)) + "]");
        foreach (var spec in LlamaWeights.Describe(_config))
        {
            var shape = named.First(p => p.name == spec.Name).parameter.shape;
            if (!shape.SequenceEqual(spec.Shape))
                throw new InvalidOperationException($"{spec.Name}: the model has shape [{string.Join(", ", shape)}], the checkpoint [{string.Join(", ", spec.Shape)}]");
        }
    }
}
