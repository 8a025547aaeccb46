namespace Bento.ModelGen;

/// <summary>
/// The published config.json files the generated models copy: every key and every value that is not a size comes from
/// the named checkpoint's config.json; sizes (hidden, layers, heads, vocabulary, context) come from the generated
/// model, and values tied to the context (sliding_window, original_max_position_embeddings, LongRoPE's
/// original length) keep their published ratio to max_position_embeddings.
/// </summary>
public static class PublishedConfigs
{
    /// <summary>
    /// LongRoPE factors of microsoft/Phi-3.5-mini-instruct's config.json (48 values: head_dim 96 / 2), the published
    /// Phi-3 family list at hand; the Phi-3-mini-128k and Phi-4-mini templates resample them to the generated rotary
    /// width (their own lists have the same shape: ~1 to ~3 short, ~1 to ~64 long).
    /// </summary>
    private static readonly double[] Phi35LongFactor =
    [
        1.0800000429153442, 1.1100000143051147, 1.1399999856948853, 1.340000033378601, 1.5899999141693115, 1.600000023841858,
        1.6200000047683716, 2.620000123977661, 3.2300000190734863, 3.2300000190734863, 4.789999961853027, 7.400000095367432,
        7.700000286102295, 9.09000015258789, 12.199999809265137, 17.670000076293945, 24.46000099182129, 28.57000160217285,
        30.420001983642578, 30.840002059936523, 32.590003967285156, 32.93000411987305, 42.320003509521484, 44.96000289916992,
        50.340003967285156, 50.45000457763672, 57.55000305175781, 57.93000411987305, 58.21000289916992, 60.1400032043457,
        62.61000442504883, 62.62000274658203, 62.71000289916992, 63.1400032043457, 63.1400032043457, 63.77000427246094,
        63.93000411987305, 63.96000289916992, 63.970001220703125, 64.02999877929688, 64.06999969482422, 64.08000183105469,
        64.12000274658203, 64.41000366210938, 64.4800033569336, 64.51000213623047, 64.52999877929688, 64.83999633789062,
    ];

    private static readonly double[] Phi35ShortFactor =
    [
        1.0, 1.0199999809265137, 1.0299999713897705, 1.0299999713897705, 1.0499999523162842, 1.0499999523162842,
        1.0499999523162842, 1.0499999523162842, 1.0499999523162842, 1.0699999332427979, 1.0999999046325684, 1.1099998950958252,
        1.1599998474121094, 1.1599998474121094, 1.1699998378753662, 1.2899998426437378, 1.339999794960022, 1.679999828338623,
        1.7899998426437378, 1.8199998140335083, 1.8499997854232788, 1.8799997568130493, 1.9099997282028198, 1.9399996995925903,
        1.9899996519088745, 2.0199997425079346, 2.0199997425079346, 2.0199997425079346, 2.0199997425079346, 2.0199997425079346,
        2.0199997425079346, 2.0299997329711914, 2.0299997329711914, 2.0299997329711914, 2.0299997329711914, 2.0299997329711914,
        2.0299997329711914, 2.0299997329711914, 2.0299997329711914, 2.0299997329711914, 2.0799996852874756, 2.0899996757507324,
        2.189999580383301, 2.2199995517730713, 2.5899994373321533, 2.729999542236328, 2.749999523162842, 2.8399994373321533,
    ];

    /// <summary>The templates, by the Hugging Face repository name they copy (lower case).</summary>
    public static readonly IReadOnlyDictionary<string, ModelFamily> Names = new Dictionary<string, ModelFamily>(StringComparer.Ordinal)
    {
        ["llama-2-7b-chat-hf"] = ModelFamily.Llama,
        ["llama-3.1-8b-instruct"] = ModelFamily.Llama,
        ["llama-3.2-1b-instruct"] = ModelFamily.Llama,
        ["phi-3-mini-4k-instruct"] = ModelFamily.Phi3,
        ["phi-3-mini-128k-instruct"] = ModelFamily.Phi3,
        ["phi-4-mini-instruct"] = ModelFamily.Phi3,
        ["gemma-2-2b-it"] = ModelFamily.Gemma2,
        ["gemma-3-1b-it"] = ModelFamily.Gemma3,
        ["gemma-3-4b-it"] = ModelFamily.Gemma3,
    };

    /// <summary>The template a family uses unless one is named (null: Llama and Qwen keep their built-in keys).</summary>
    public static string? DefaultFor(ModelFamily family) => family switch
    {
        ModelFamily.Phi3 => "phi-3-mini-4k-instruct",
        ModelFamily.Gemma2 => "gemma-2-2b-it",
        ModelFamily.Gemma3 => "gemma-3-1b-it",
        _ => null,
    };

    /// <summary>
    /// <paramref name="c"/> (sizes already set) with the named checkpoint's other values. Published values (sizes as
    /// published, for reference): Llama-2-7b-chat (4096 context, rms 1e-5, no rope_scaling); Llama-3.1-8B-Instruct and
    /// Llama-3.2-1B-Instruct (131072 context, rope_theta 500000, llama3 scaling factor 8 / 32 from 8192 positions, low 1,
    /// high 4; 3.2-1B tied); Phi-3-mini-4k-instruct (4096 context, sliding_window 2047, untied, rms 1e-5);
    /// Phi-3-mini-128k-instruct (131072 context from 4096 by LongRoPE, sliding_window 262144); Phi-4-mini-instruct
    /// (as 128k, plus partial_rotary_factor 0.75, tied, 24/8 heads); gemma-2-2b-it (8192 context, sliding_window 4096
    /// on every other layer, soft-caps 50 / 30, query_pre_attn_scalar 256 = head_dim, rms 1e-6); gemma-3-1b-it (32768
    /// context, sliding_window 512 on 5 of every 6 layers, rope_theta 1e6 global / 10000 local, q/k norms, no soft-caps);
    /// gemma-3-4b-it (Gemma3ForConditionalGeneration: text_config with 131072 context by default, sliding_window 1024,
    /// linear rope scaling 8 on the global layers, beside a SigLIP vision tower).
    /// </summary>
    public static LlamaConfig Apply(string name, LlamaConfig c)
    {
        if (!Names.TryGetValue(name, out var family))
            throw new ArgumentException($"unknown published config '{name}' (known: {string.Join(", ", Names.Keys)})");
        c = c with { Family = family };
        var context = c.MaxPositionEmbeddings;
        int Scaled(int published, int publishedContext) => Math.Max(1, (int)((long)published * context / publishedContext));
        RopeScalingSpec LongRope(int originalMax) => new("longrope")
        {
            ShortFactor = Resample(Phi35ShortFactor, c.RotaryDim / 2),
            LongFactor = Resample(Phi35LongFactor, c.RotaryDim / 2),
            OriginalMaxPositionEmbeddings = originalMax,
        };
        switch (name)
        {
            case "llama-2-7b-chat-hf":
                return c with { RmsNormEps = 1e-5, RopeTheta = 10000.0, RopeScaling = null, TieWordEmbeddings = false };
            case "llama-3.1-8b-instruct" or "llama-3.2-1b-instruct":
                return c with
                {
                    RmsNormEps = 1e-5, RopeTheta = 500000.0, TieWordEmbeddings = name == "llama-3.2-1b-instruct",
                    RopeScaling = new RopeScalingSpec("llama3", name == "llama-3.2-1b-instruct" ? 32.0 : 8.0)
                    {
                        LowFreqFactor = 1.0, HighFreqFactor = 4.0, OriginalMaxPositionEmbeddings = Scaled(8192, 131072),
                    },
                };
            case "phi-3-mini-4k-instruct":
                return c with
                {
                    RmsNormEps = 1e-5, RopeTheta = 10000.0, TieWordEmbeddings = false, RopeScaling = null,
                    SlidingWindow = Scaled(2048, 4096) - 1, OriginalMaxPositionEmbeddings = context,
                };
            case "phi-3-mini-128k-instruct":
                c = c with
                {
                    RmsNormEps = 1e-5, RopeTheta = 10000.0, TieWordEmbeddings = false,
                    SlidingWindow = Scaled(262144, 131072), OriginalMaxPositionEmbeddings = Scaled(4096, 131072),
                };
                return c with { RopeScaling = LongRope(c.OriginalMaxPositionEmbeddings!.Value) };
            case "phi-4-mini-instruct":
                c = c with
                {
                    RmsNormEps = 1e-5, RopeTheta = 10000.0, TieWordEmbeddings = true, PartialRotaryFactor = 0.75, Phi4MiniKeys = true,
                    SlidingWindow = Scaled(262144, 131072), OriginalMaxPositionEmbeddings = Scaled(4096, 131072),
                };
                return c with { RopeScaling = LongRope(c.OriginalMaxPositionEmbeddings!.Value) };
            case "gemma-2-2b-it":
                return c with
                {
                    RmsNormEps = 1e-6, RopeTheta = 10000.0, TieWordEmbeddings = true, RopeScaling = null,
                    SlidingWindow = Scaled(4096, 8192), QueryPreAttnScalar = c.HeadDim,
                    AttnLogitSoftcapping = 50.0, FinalLogitSoftcapping = 30.0,
                };
            case "gemma-3-4b-it":
                // Gemma3ForConditionalGeneration; its text_config leaves everything but the sizes, the linear scaling of
                // the global layers and the window to Gemma3TextConfig's defaults (131072 context, which the window's
                // ratio is taken against).
                return c with
                {
                    Multimodal = true, RmsNormEps = 1e-6, RopeTheta = 1_000_000.0, RopeLocalBaseFreq = 10000.0, TieWordEmbeddings = true,
                    RopeScaling = new RopeScalingSpec("linear", 8.0), SlidingWindow = Math.Max(2, Scaled(1024, 131072)),
                    SlidingWindowPattern = 6, QueryPreAttnScalar = c.HeadDim,
                };
            default: // gemma-3-1b-it
                return c with
                {
                    RmsNormEps = 1e-6, RopeTheta = 1_000_000.0, RopeLocalBaseFreq = 10000.0, TieWordEmbeddings = true, RopeScaling = null,
                    SlidingWindow = Math.Max(2, Scaled(512, 32768)), SlidingWindowPattern = 6, QueryPreAttnScalar = c.HeadDim,
                };
        }
    }

    /// <summary><paramref name="count"/> values spread over <paramref name="values"/> (first and shape kept).</summary>
    private static double[] Resample(double[] values, int count) =>
        Enumerable.Range(0, count).Select(i => values[(int)((long)i * values.Length / count)]).ToArray();
}
