namespace Bento.ModelGen;

/// <summary>
/// Writes a complete Hugging Face Llama model folder: config.json, generation_config.json,
/// tokenizer.json, tokenizer_config.json, special_tokens_map.json and the safetensors checkpoint.
/// </summary>
public static class ModelFolderGenerator
{
    public const string ConfigFileName = "config.json";
    public const string GenerationConfigFileName = "generation_config.json";
    public const string TokenizerFileName = "tokenizer.json";
    public const string TokenizerConfigFileName = "tokenizer_config.json";
    public const string SpecialTokensMapFileName = "special_tokens_map.json";

    /// <summary>Generates the model into <paramref name="outDir"/>.</summary>
    /// <remarks>
    /// Everything is first written to a hidden temporary folder beside <paramref name="outDir"/> (same
    /// file system, so moving is a rename) and only moved in once complete: a failure or cancellation
    /// leaves <paramref name="outDir"/> as it was. Files we do not generate (a bentofile.yaml, say) are
    /// kept; checkpoint files of an earlier run that this run does not produce are removed, because a
    /// stale shard or index next to the new weights would make loaders read the wrong tensors.
    /// </remarks>
    public static async Task<GeneratedModel> GenerateAsync(
        string outDir,
        ModelGenerationOptions options,
        CancellationToken cancellationToken = default)
    {
        var config = options.Config;
        var tokenizer = options.Tokenizer;
        config.Validate();
        if (config.VocabSize < tokenizer.TotalVocabSize)
            throw new ArgumentException($"vocab_size {config.VocabSize} is smaller than the tokenizer's {tokenizer.TotalVocabSize} tokens");
        if (config.BosTokenId != tokenizer.BeginOfTextId || config.EosTokenId != tokenizer.EndOfTextId)
            throw new ArgumentException(
                $"config bos/eos ids ({config.BosTokenId}, {config.EosTokenId}) must be the tokenizer's {LlamaTokenizer.BeginOfText} and {LlamaTokenizer.EndOfText} ({tokenizer.BeginOfTextId}, {tokenizer.EndOfTextId})");
        var weights = options.Weights ?? LlamaWeights.Random(config, options.Seed);
        CheckWeightsMatchConfig(config, weights);
        if (config.Multimodal) weights = Gemma3Multimodal.Checkpoint(config, weights, options.Seed);

        var target = Path.GetFullPath(outDir);
        var parent = Path.GetDirectoryName(Path.TrimEndingDirectorySeparator(target))
            ?? throw new ArgumentException($"cannot generate into the root directory '{target}'", nameof(outDir));
        Directory.CreateDirectory(parent);
        var staging = Path.Combine(parent, $".{Path.GetFileName(Path.TrimEndingDirectorySeparator(target))}.modelgen-{Guid.NewGuid():N}");
        Directory.CreateDirectory(staging);
        try
        {
            var files = new List<(string Name, long Size)>();
            async Task WriteJson(string name, byte[] content)
            {
                await File.WriteAllBytesAsync(Path.Combine(staging, name), content, cancellationToken).ConfigureAwait(false);
                files.Add((name, content.Length));
            }

            await WriteJson(ConfigFileName, config.ToConfigJson()).ConfigureAwait(false);
            // Chat replies end with <|eot_id|>, plain text with <|end_of_text|>: generation stops at either.
            await WriteJson(GenerationConfigFileName, config.ToGenerationConfigJson([tokenizer.EndOfTextId, tokenizer.EndOfTurnId])).ConfigureAwait(false);
            await WriteJson(TokenizerFileName, TokenizerJsonWriter.ToTokenizerJson(tokenizer)).ConfigureAwait(false);
            await WriteJson(TokenizerConfigFileName, TokenizerJsonWriter.ToTokenizerConfigJson(tokenizer)).ConfigureAwait(false);
            await WriteJson(SpecialTokensMapFileName, TokenizerJsonWriter.ToSpecialTokensMapJson()).ConfigureAwait(false);

            var checkpoint = await ShardedCheckpointWriter.WriteAsync(staging, weights, options.ShardCount, cancellationToken).ConfigureAwait(false);
            foreach (var name in checkpoint.FileNames)
                files.Add((name, new FileInfo(Path.Combine(staging, name)).Length));

            cancellationToken.ThrowIfCancellationRequested();
            MoveInto(staging, target, files.Select(f => f.Name).ToHashSet(StringComparer.Ordinal));
            return new GeneratedModel(
                target,
                files.Select(f => f.Name).OrderBy(n => n, StringComparer.Ordinal).ToList(),
                files.Sum(f => f.Size),
                checkpoint.TotalTensorBytes,
                config);
        }
        finally
        {
            if (Directory.Exists(staging))
                Directory.Delete(staging, recursive: true);
        }
    }

    private static void MoveInto(string staging, string target, HashSet<string> names)
    {
        if (!Directory.Exists(target))
        {
            // Nothing to keep: one rename publishes the whole folder at once.
            Directory.Move(staging, target);
            return;
        }
        foreach (var stale in Directory.EnumerateFiles(target).Select(Path.GetFileName))
        {
            if (stale is not null && ShardedCheckpointWriter.IsCheckpointFileName(stale) && !names.Contains(stale))
                File.Delete(Path.Combine(target, stale));
        }
        // Config and tokenizer first, the index last: a reader that lists the folder mid-move sees the
        // index only once every shard it names is in place.
        foreach (var name in names.OrderBy(n => n == ShardedCheckpointWriter.IndexFileName).ThenBy(n => n, StringComparer.Ordinal))
            File.Move(Path.Combine(staging, name), Path.Combine(target, name), overwrite: true);
    }

    private static void CheckWeightsMatchConfig(LlamaConfig config, IReadOnlyList<TensorSource> weights)
    {
        var expected = LlamaWeights.Describe(config).ToDictionary(s => s.Name, StringComparer.Ordinal);
        var dtype = config.SafetensorsDtype;
        foreach (var tensor in weights)
        {
            if (!expected.Remove(tensor.Name, out var spec))
                throw new ArgumentException($"tensor '{tensor.Name}' is not part of this Llama config (or appears twice)");
            if (!spec.Shape.SequenceEqual(tensor.Shape))
                throw new ArgumentException($"tensor '{tensor.Name}' has shape [{string.Join(", ", tensor.Shape)}], the config needs [{string.Join(", ", spec.Shape)}]");
            if (tensor.DType != dtype)
                throw new ArgumentException($"tensor '{tensor.Name}' is {tensor.DType} but torch_dtype {config.TorchDtype} needs {dtype}");
        }
        if (expected.Count > 0)
            throw new ArgumentException($"missing tensors: {string.Join(", ", expected.Keys.Order(StringComparer.Ordinal))}");
    }
}
