using System.Globalization;
using Bento.ModelGen;
using Bento.Trainer;

// bento-train: trains the tiny-llama example and writes it through ModelGen's folder generator.
// Exit codes: 0 trained and the counting check passed, 1 failure (or the check failed), 2 usage error.
//
// Everything runs synchronously on the main thread: LibTorch's grad mode and intra-op thread count are per thread.

CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;

if (args is ["-h"] or ["--help"] or ["help"])
{
    Console.WriteLine(TrainerCommandLine.Usage);
    return 0;
}

string outDir;
TrainingSettings settings;
try
{
    (outDir, settings) = TrainerCommandLine.Parse(args);
}
catch (TrainerUsageException e)
{
    Console.Error.WriteLine($"bento-train: {e.Message}");
    Console.Error.WriteLine(TrainerCommandLine.Usage);
    return 2;
}

try
{
    var options = ModelPresets.TinyLlama();
    var trainer = new CausalLmTrainer(options.Config, options.Tokenizer, settings, Console.Out);
    var result = trainer.Train();
    Console.WriteLine($"trained in {result.Elapsed.TotalSeconds:F1}s: val loss {result.InitialValidationLoss:F4} -> {result.FinalValidationLoss:F4}, " +
                      $"last train loss {result.Log[^1].TrainLoss:F4}");

    // The trained values go through the generator: it writes config and tokenizer files byte-identical to
    // `bento-modelgen tiny-llama`, and only the tensor values differ.
    var model = ModelFolderGenerator.GenerateAsync(outDir, options with { Weights = LlamaWeights.FromValues(options.Config, result.Weights) })
        .GetAwaiter().GetResult();
    Console.WriteLine($"output: {model.Directory} ({model.WeightBytes} bytes of weights)");

    var checks = GreedyEvaluation.Run(outDir, GreedyEvaluation.CountingChecks.Concat(GreedyEvaluation.Samples), settings.Threads);
    Console.WriteLine("greedy continuations (EagerModelRunner, KV cache):");
    foreach (var c in checks)
    {
        var mark = !c.IsCheck ? "      " : c.Passed ? "[ok]  " : "[FAIL]";
        var expectation = c.IsCheck && !c.Passed ? $"   (expected to start with \"{c.ExpectedStart}\")" : "";
        Console.WriteLine($"  {mark} \"{c.Prompt}\" -> \"{c.Continuation}\"{expectation}");
    }
    if (checks.Any(c => !c.Passed))
    {
        Console.Error.WriteLine("bento-train: the counting check failed; the model was written but does not count on");
        return 1;
    }
    return 0;
}
catch (Exception e) when (e is ArgumentException or IOException or UnauthorizedAccessException or InvalidDataException or InvalidOperationException)
{
    Console.Error.WriteLine($"bento-train: {e.Message}");
    return 1;
}
