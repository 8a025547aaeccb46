using System.Globalization;

namespace Bento.ModelGen;

/// <summary>
/// Parses <c>bento-modelgen</c>'s arguments into the options of the chosen command.
/// </summary>
public static class CommandLine
{
    public const string Usage = """
        usage:
          bento-modelgen tiny-llama OUT_DIR
              the bundled example model (512-token vocabulary, hidden 128, 4 layers, float32, seed 42)
          bento-modelgen random OUT_DIR [--hidden N] [--intermediate N] [--layers N] [--heads N]
                                        [--kv-heads N] [--vocab N] [--max-position N] [--tied]
                                        [--dtype float32|float16|bfloat16] [--shards N]
                                        [--target-bytes SIZE] [--seed N]
                                        [--family llama|qwen2|qwen3|phi3|gemma2|gemma3] [--head-dim N]
                                        [--like PUBLISHED] [--sliding-window N]
              a randomly initialised model; --target-bytes (e.g. 1GiB, 512MiB, 300MB) picks the number
              of layers so the weights total about SIZE and overrides --layers; --family qwen2 adds
              q/k/v biases, qwen3 q/k norms (with --head-dim, head_dim need not be hidden / heads),
              phi3 fused qkv/gate_up projections, gemma2/gemma3 Gemma's block; --like copies the keys
              and non-size values of a published config.json (sizes from the options above; context-
              tied values scaled): llama-2-7b-chat-hf, llama-3.1-8b-instruct, llama-3.2-1b-instruct,
              phi-3-mini-4k-instruct (phi3's default), phi-3-mini-128k-instruct, phi-4-mini-instruct,
              gemma-2-2b-it (gemma2's default), gemma-3-1b-it (gemma3's default), gemma-3-4b-it (the
              multimodal layout: text_config, language_model.* tensors, a small vision tower); its
              rope_theta and tied embeddings replace --tied
        """;

    /// <summary>The output directory and generation options for <paramref name="args"/>.</summary>
    /// <exception cref="UsageException">The arguments are not a valid command.</exception>
    public static (string OutDir, Func<ModelGenerationOptions> BuildOptions) Parse(IReadOnlyList<string> args)
    {
        if (args.Count == 0)
            throw new UsageException("missing command");
        var command = args[0];
        var rest = args.Skip(1).ToList();
        return command switch
        {
            "tiny-llama" => ParseTinyLlama(rest),
            "random" => ParseRandom(rest),
            _ => throw new UsageException($"unknown command '{command}'"),
        };
    }

    private static (string, Func<ModelGenerationOptions>) ParseTinyLlama(List<string> args)
    {
        if (args.Count != 1 || args[0].StartsWith("--", StringComparison.Ordinal))
            throw new UsageException("tiny-llama takes exactly one argument, OUT_DIR");
        return (args[0], ModelPresets.TinyLlama);
    }

    private static (string, Func<ModelGenerationOptions>) ParseRandom(List<string> args)
    {
        string? outDir = null;
        var spec = new RandomModelSpec();
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            if (!arg.StartsWith("--", StringComparison.Ordinal))
            {
                if (outDir is not null)
                    throw new UsageException($"unexpected argument '{arg}' (OUT_DIR is already '{outDir}')");
                outDir = arg;
                continue;
            }

            string Value()
            {
                if (i + 1 >= args.Count)
                    throw new UsageException($"{arg} needs a value");
                return args[++i];
            }

            spec = arg switch
            {
                "--hidden" => spec with { HiddenSize = PositiveInt(arg, Value()) },
                "--intermediate" => spec with { IntermediateSize = PositiveInt(arg, Value()) },
                "--layers" => spec with { Layers = PositiveInt(arg, Value()) },
                "--heads" => spec with { Heads = PositiveInt(arg, Value()) },
                "--kv-heads" => spec with { KeyValueHeads = PositiveInt(arg, Value()) },
                "--vocab" => spec with { VocabSize = PositiveInt(arg, Value()) },
                "--max-position" => spec with { MaxPositionEmbeddings = PositiveInt(arg, Value()) },
                "--tied" => spec with { TiedEmbeddings = true },
                "--dtype" => spec with { TorchDtype = Dtype(Value()) },
                "--shards" => spec with { Shards = PositiveInt(arg, Value()) },
                "--target-bytes" => spec with { TargetBytes = Size(arg, Value()) },
                "--seed" => spec with { Seed = Seed(arg, Value()) },
                "--family" => spec with { Family = Family(Value()) },
                "--head-dim" => spec with { HeadDim = PositiveInt(arg, Value()) },
                "--like" => Like(spec, Value()),
                "--sliding-window" => spec with { SlidingWindow = PositiveInt(arg, Value()) },
                _ => throw new UsageException($"unknown option '{arg}'"),
            };
        }
        if (outDir is null)
            throw new UsageException("random needs OUT_DIR");

        var finalSpec = spec;
        // Check the dimensions now so mistakes are usage errors, not crashes halfway through.
        try
        {
            var check = new LlamaConfig
            {
                VocabSize = Math.Max(finalSpec.VocabSize ?? 512, 512),
                HiddenSize = finalSpec.HiddenSize,
                IntermediateSize = finalSpec.IntermediateSize,
                NumHiddenLayers = finalSpec.Layers,
                NumAttentionHeads = finalSpec.Heads,
                NumKeyValueHeads = finalSpec.KeyValueHeads,
                MaxPositionEmbeddings = finalSpec.MaxPositionEmbeddings,
                TorchDtype = finalSpec.TorchDtype,
                Family = finalSpec.Family,
            };
            if (finalSpec.HeadDim is { } headDim) check = check with { HeadDim = headDim };
            if ((finalSpec.Like ?? PublishedConfigs.DefaultFor(finalSpec.Family)) is { } template)
                check = PublishedConfigs.Apply(template, check);
            if (finalSpec.SlidingWindow is { } window) check = check with { SlidingWindow = window };
            check.Validate();
        }
        catch (ArgumentException e)
        {
            throw new UsageException(e.Message);
        }
        if (finalSpec.VocabSize is < 261)
            throw new UsageException("--vocab must be at least 261 (256 byte tokens + 5 special tokens)");
        return (outDir, () => ModelPresets.Random(finalSpec));
    }

    private static int PositiveInt(string option, string value) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0
            ? n
            : throw new UsageException($"{option} needs a positive integer, got '{value}'");

    private static ulong Seed(string option, string value) =>
        ulong.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var n)
            ? n
            : throw new UsageException($"{option} needs a non-negative integer, got '{value}'");

    private static long Size(string option, string value) =>
        ByteSize.TryParse(value, out var bytes)
            ? bytes
            : throw new UsageException($"{option} needs a size such as 1GiB, 512MiB or 1000000, got '{value}'");

    private static ModelFamily Family(string value) =>
        Enum.GetValues<ModelFamily>().Where(f => f.CliName() == value).Select(f => (ModelFamily?)f).FirstOrDefault()
        ?? throw new UsageException($"--family must be {string.Join(", ", Enum.GetValues<ModelFamily>().Select(f => f.CliName()))}, got '{value}'");

    private static RandomModelSpec Like(RandomModelSpec spec, string value) =>
        PublishedConfigs.Names.TryGetValue(value, out var family)
            ? spec with { Like = value, Family = family }
            : throw new UsageException($"--like must be one of {string.Join(", ", PublishedConfigs.Names.Keys)}, got '{value}'");

    private static string Dtype(string value) => value is "float32" or "float16" or "bfloat16"
        ? value
        : throw new UsageException($"--dtype must be float32, float16 or bfloat16, got '{value}'");
}
