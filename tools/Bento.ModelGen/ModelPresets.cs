namespace Bento.ModelGen;

/// <summary>
/// The model folders the CLI knows how to make: the bundled tiny example and random models.
/// </summary>
public static class ModelPresets
{
    /// <summary>Seed of the bundled example (weights and corpus).</summary>
    public const ulong TinyLlamaSeed = 42;

    /// <summary>The bundled example: 512-token vocabulary (507 BPE + 5 specials), hidden 128,
    /// intermediate 384, 4 layers, 4 query heads sharing 2 key/value heads, 512 positions, float32,
    /// untied embeddings: 918,656 parameters, 3.7 MB of weights.</summary>
    public static ModelGenerationOptions TinyLlama()
    {
        var tokenizer = LlamaTokenizer.TrainOnSyntheticCorpus(LlamaTokenizer.DefaultBpeVocabSize, modelMaxLength: 512);
        var config = new LlamaConfig
        {
            VocabSize = tokenizer.TotalVocabSize,
            HiddenSize = 128,
            IntermediateSize = 384,
            NumHiddenLayers = 4,
            NumAttentionHeads = 4,
            NumKeyValueHeads = 2,
            MaxPositionEmbeddings = 512,
            RopeTheta = 10000.0,
            RmsNormEps = 1e-5,
            TieWordEmbeddings = false,
            TorchDtype = "float32",
            BosTokenId = tokenizer.BeginOfTextId,
            EosTokenId = tokenizer.EndOfTextId,
        };
        return new ModelGenerationOptions { Config = config, Tokenizer = tokenizer, Seed = TinyLlamaSeed };
    }

    /// <summary>A random model as described by <paramref name="spec"/>.</summary>
    public static ModelGenerationOptions Random(RandomModelSpec spec)
    {
        var specials = LlamaTokenizer.SpecialTokens.Count;
        if (spec.VocabSize is { } requested && requested < 256 + specials)
            throw new ArgumentException($"vocab size must be at least {256 + specials} (256 byte tokens + {specials} special tokens), got {requested}");

        var bpeSize = spec.VocabSize is { } v ? v - specials : LlamaTokenizer.DefaultBpeVocabSize;
        var tokenizer = LlamaTokenizer.TrainOnSyntheticCorpus(bpeSize, modelMaxLength: spec.MaxPositionEmbeddings);
        var config = new LlamaConfig
        {
            Family = spec.Like is { } like && PublishedConfigs.Names.TryGetValue(like, out var likeFamily) ? likeFamily : spec.Family,
            RopeTheta = spec.RopeTheta,
            VocabSize = Math.Max(spec.VocabSize ?? 0, tokenizer.TotalVocabSize),
            HiddenSize = spec.HiddenSize,
            IntermediateSize = spec.IntermediateSize,
            NumHiddenLayers = Math.Max(1, spec.Layers),
            NumAttentionHeads = spec.Heads,
            NumKeyValueHeads = spec.KeyValueHeads,
            MaxPositionEmbeddings = spec.MaxPositionEmbeddings,
            TieWordEmbeddings = spec.TiedEmbeddings,
            TorchDtype = spec.TorchDtype,
            BosTokenId = tokenizer.BeginOfTextId,
            EosTokenId = tokenizer.EndOfTextId,
        };
        if (spec.HeadDim is { } headDim)
            config = config with { HeadDim = headDim };
        if ((spec.Like ?? PublishedConfigs.DefaultFor(config.Family)) is { } template)
            config = PublishedConfigs.Apply(template, config);
        if (config.Family.IsGemma())
            config = config with { EndOfTurnTokenId = tokenizer.EndOfTurnId }; // Gemma lists <eos> and <end_of_turn>
        if (spec.SlidingWindow is { } window)
            config = config with { SlidingWindow = window };
        if (spec.RopeScaling is { } scaling)
            config = config with { RopeScaling = scaling };
        if (spec.TargetBytes is { } targetBytes)
            config = config with { NumHiddenLayers = LayersForTargetBytes(config, targetBytes) };
        config.Validate();
        return new ModelGenerationOptions { Config = config, Tokenizer = tokenizer, ShardCount = spec.Shards, Seed = spec.Seed };
    }

    /// <summary>The layer count (at least 1) whose weights come closest to <paramref name="targetBytes"/>.</summary>
    public static int LayersForTargetBytes(LlamaConfig config, long targetBytes)
    {
        var fixedBytes = LlamaWeights.TotalBytes(config with { NumHiddenLayers = 1 });
        var perLayer = LlamaWeights.TotalBytes(config with { NumHiddenLayers = 2 }) - fixedBytes;
        var withoutLayers = fixedBytes - perLayer;
        var layers = Math.Round((targetBytes - withoutLayers) / (double)perLayer, MidpointRounding.AwayFromZero);
        return (int)Math.Clamp(layers, 1, 100_000);
    }
}
