using System.Globalization;

namespace Bento.Trainer;

/// <summary>A command line that is not a valid bento-train invocation.</summary>
public sealed class TrainerUsageException(string message) : Exception(message);

/// <summary>Parses bento-train's arguments.</summary>
public static class TrainerCommandLine
{
    public const string Usage = """
        usage:
          bento-train tiny-llama OUT_DIR [--steps N] [--seed N] [--threads N]
                                         [--batch-size N] [--seq-len N] [--lr X] [--log-every N]
              trains the bundled example's architecture (bento-modelgen tiny-llama) on the synthetic corpus and
              writes the model folder to OUT_DIR (config and tokenizer files as bento-modelgen writes them, trained
              model.safetensors; other files there, like bentofile.yaml, are kept), then checks that greedy
              decoding counts on ("1 2 3 4" -> " 5 6 7"). Exit code 1 when that check fails.
              Defaults: --steps 800 --seed 42 --threads 1 --batch-size 32 --seq-len 64 --lr 2e-3.
              The same seed and thread count reproduce the same weights on the same LibTorch build and CPU.
        """;

    public static (string OutDir, TrainingSettings Settings) Parse(IReadOnlyList<string> args)
    {
        if (args.Count == 0)
            throw new TrainerUsageException("missing command");
        if (args[0] != "tiny-llama")
            throw new TrainerUsageException($"unknown command '{args[0]}' (only 'tiny-llama' is known)");
        string? outDir = null;
        var settings = new TrainingSettings();
        for (var i = 1; i < args.Count; i++)
        {
            var arg = args[i];
            if (!arg.StartsWith("--", StringComparison.Ordinal))
            {
                if (outDir is not null)
                    throw new TrainerUsageException($"unexpected argument '{arg}' (OUT_DIR is already '{outDir}')");
                outDir = arg;
                continue;
            }
            string Value() => i + 1 < args.Count ? args[++i] : throw new TrainerUsageException($"{arg} needs a value");
            settings = arg switch
            {
                "--steps" => settings with { Steps = PositiveInt(arg, Value()) },
                "--seed" => settings with { Seed = Seed(arg, Value()) },
                "--threads" => settings with { Threads = PositiveInt(arg, Value()) },
                "--batch-size" => settings with { BatchSize = PositiveInt(arg, Value()) },
                "--seq-len" => settings with { SequenceLength = PositiveInt(arg, Value()) },
                "--lr" => settings with { PeakLearningRate = PositiveDouble(arg, Value()) },
                "--log-every" => settings with { LogEvery = PositiveInt(arg, Value()) },
                _ => throw new TrainerUsageException($"unknown option '{arg}'"),
            };
        }
        if (outDir is null)
            throw new TrainerUsageException("tiny-llama needs OUT_DIR");
        // Short runs: keep the warmup a small part of the schedule, and the floor below the peak.
        if (settings.WarmupSteps > settings.Steps / 5)
            settings = settings with { WarmupSteps = settings.Steps / 5 };
        if (settings.MinLearningRate > settings.PeakLearningRate)
            settings = settings with { MinLearningRate = settings.PeakLearningRate / 20 };
        try { settings.Validate(); }
        catch (ArgumentException e) { throw new TrainerUsageException(e.Message); }
        return (outDir, settings);
    }

    private static int PositiveInt(string option, string value) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0
            ? n
            : throw new TrainerUsageException($"{option} needs a positive integer, got '{value}'");

    private static ulong Seed(string option, string value) =>
        ulong.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var n)
            ? n
            : throw new TrainerUsageException($"{option} needs a non-negative integer, got '{value}'");

    private static double PositiveDouble(string option, string value) =>
        double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var x) && x > 0 && double.IsFinite(x)
            ? x
            : throw new TrainerUsageException($"{option} needs a positive number, got '{value}'");
}
