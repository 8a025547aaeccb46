using Bento.ModelGen;
using Bento.Runtime.Model;
using Xunit.Abstractions;
using static Bento.Runtime.Tests.Model.ModelTestSupport;

namespace Bento.Runtime.Tests.Model;

/// <summary>
/// Phi-3 and Phi-4-mini against llama.cpp's phi3 graph on generated weights with the published configs' keys, scaled
/// down (2 layers, 1024-token vocabulary): 40 greedy tokens identical and every step's logits within
/// 1e-4 x (1 + max |logit|), as for Llama and Qwen (both sides compute in float32). Each family difference is also
/// skipped once on our side, and the comparison must then fail: the checks see what they claim to check.
/// </summary>
[Trait("Category", "Slow")]
public sealed class PhiCrossCheckTests(ITestOutputHelper output)
{
    private const int Steps = 40;
    private const float Tolerance = 1e-4f;

    // llama.cpp gives Phi-3's special tokens (</s>, <s>, ...) extra attributes when general.name - our folder name -
    // contains "phi-3" or "phi3", and fails on a vocabulary without them (ours is ModelGen's byte-level BPE): the
    // folders below are named without it.

    // 20 tokens: past Projector.MaxManagedRows, so the prefill takes the LibTorch path and decode the managed one.
    private static readonly int[] Prompt = [507, 40, 41, 42, 43, 300, 301, 5, 6, 7, 8, 9, 60, 61, 62, 63, 200, 201, 202, 17];

    /// <summary>Phi-3-mini's shape: 96-wide heads (3072 / 32), kv heads = heads, 2.67x MLP, untied; scaled to 4 heads.</summary>
    private static RandomModelSpec Phi3Mini(string like, int maxPositions) => new()
    {
        Like = like, HiddenSize = 384, IntermediateSize = 1024, Layers = 2, Heads = 4, KeyValueHeads = 4,
        VocabSize = 1024, MaxPositionEmbeddings = maxPositions, Seed = 31,
    };

    /// <summary>Phi-4-mini's shape: 128-wide heads (3072 / 24) in 3:1 grouped-query attention, 96 of them rotated, tied.</summary>
    private static readonly RandomModelSpec Phi4Mini = new()
    {
        Like = "phi-4-mini-instruct", HiddenSize = 768, IntermediateSize = 1024, Layers = 2, Heads = 6, KeyValueHeads = 2,
        VocabSize = 1024, MaxPositionEmbeddings = 4096, Seed = 37,
    };

    private void Matches(string dir, string name, int context = 256)
    {
        var result = LlamaCppComparison.Run(dir, Prompt, Steps, context: context);
        output.WriteLine($"{name}: {result}");
        output.WriteLine($"{name}: tokens {string.Join(' ', result.ReferenceTokens)}");
        Assert.True(result.WorstRelativeDiff <= Tolerance, $"{name}: {result}");
        Assert.Equal(result.ReferenceTokens, result.OurTokens);
    }

    /// <summary>Our runner on <paramref name="skipped"/> (the model with one difference undone) against llama.cpp on
    /// <paramref name="dir"/>: the cross-check must fail.</summary>
    private void Diverges(string skipped, string dir, string what, int context = 256)
    {
        var result = LlamaCppComparison.Run(skipped, Prompt, 4, referenceModel: dir, context: context);
        output.WriteLine($"without {what}: {result}");
        Assert.True(result.WorstRelativeDiff > 10 * Tolerance, $"skipping {what} went unnoticed: {result}");
    }

    [Fact]
    public async Task Phi3Mini4kShapedModelWithFusedProjectionsMatchesLlamaCpp()
    {
        using var temp = new TempDirectory("bento-phi-tests-");
        var dir = Path.Combine(temp.Path, "mini-4k");
        await GenerateAsync(dir, Phi3Mini("phi-3-mini-4k-instruct", 512), initStd: 0.1);
        var config = ModelConfig.Load(dir);
        Assert.Equal(("Phi3ForCausalLM", true, 96, 96, false, null), (config.Architecture, config.FusedProjections, config.HeadDim, config.RotaryDim, config.TieWordEmbeddings, config.RopeScaling));
        Assert.Equal(255, config.SlidingWindow); // 2047 of 4096, scaled; our 60 positions stay inside it (llama.cpp ignores Phi's window)
        Matches(dir, "phi-3-mini-4k-shaped");

        // A runtime that split gate_up_proj as up | gate, or qkv_proj as k | q | v, would disagree.
        var swappedMlp = Path.Combine(temp.Path, "up-gate");
        await GenerateAsync(swappedMlp, Phi3Mini("phi-3-mini-4k-instruct", 512), initStd: 0.1,
            edit: (name, values) => { if (name.EndsWith("gate_up_proj.weight", StringComparison.Ordinal)) SwapHalves(values); });
        Diverges(swappedMlp, dir, "gate | up order");
        var swappedQk = Path.Combine(temp.Path, "k-q-v");
        await GenerateAsync(swappedQk, Phi3Mini("phi-3-mini-4k-instruct", 512), initStd: 0.1,
            edit: (name, values) => { if (name.EndsWith("qkv_proj.weight", StringComparison.Ordinal)) SwapFirstTwoThirds(values); });
        Diverges(swappedQk, dir, "q | k | v order");
    }

    /// <summary>
    /// Phi-3-mini-128k's LongRoPE (published factor lists, original length 4096 of 131072 scaled to 256 of 8192): with
    /// a 512-token context both sides use the long factors, with 256 the short ones (llama.cpp rounds its context up to
    /// a multiple of 256, so a shorter one would not stay short there); cos/sin carry the attention factor
    /// sqrt(1 + ln(32) / ln(256)).
    /// </summary>
    [Theory]
    [InlineData(512, true)]
    [InlineData(256, false)]
    public async Task Phi3Mini128kShapedModelWithLongRopeMatchesLlamaCpp(int context, bool longFactors)
    {
        using var temp = new TempDirectory("bento-phi-tests-");
        var dir = Path.Combine(temp.Path, "mini-128k");
        await GenerateAsync(dir, Phi3Mini("phi-3-mini-128k-instruct", 8192), initStd: 0.1);
        var config = ModelConfig.Load(dir);
        Assert.Equal(("longrope", 256, 48), (config.RopeScaling!.Type, config.RopeScaling.OriginalMaxPositionEmbeddings, config.RopeScaling.LongFactor!.Count));
        Assert.Equal(Math.Sqrt(1 + Math.Log(32) / Math.Log(256)), config.RopeAttentionFactor(), 12);
        Assert.Equal(longFactors, config.UsesLongRopeFactors(context));
        Matches(dir, $"phi-3-mini-128k-shaped ({(longFactors ? "long" : "short")} factors)", context);

        Diverges(CopyWithConfig(dir, Path.Combine(temp.Path, "no-longrope"), c => c["rope_scaling"] = null), dir, "LongRoPE", context);
        Diverges(CopyWithConfig(dir, Path.Combine(temp.Path, "no-attention-factor"), c => c["rope_scaling"]!["attention_factor"] = 1.0),
            dir, "the attention factor", context);
        if (longFactors)
            Diverges(CopyWithConfig(dir, Path.Combine(temp.Path, "short-only"), c => c["rope_scaling"]!["long_factor"] = c["rope_scaling"]!["short_factor"]!.DeepClone()),
                dir, "the switch to the long factors", context);
    }

    [Fact]
    public async Task Phi4MiniShapedModelWithPartialRotaryMatchesLlamaCpp()
    {
        using var temp = new TempDirectory("bento-phi-tests-");
        var dir = Path.Combine(temp.Path, "phi-4-mini");
        await GenerateAsync(dir, Phi4Mini, initStd: 0.08);
        var config = ModelConfig.Load(dir);
        Assert.Equal((128, 96, true, 3), (config.HeadDim, config.RotaryDim, config.TieWordEmbeddings, config.KeyValueGroups));
        Matches(dir, "phi-4-mini-shaped");

        // Rotating the whole head instead (with factor lists long enough for it) must not pass.
        Diverges(CopyWithConfig(dir, Path.Combine(temp.Path, "full-rotary"), c =>
        {
            c.Remove("partial_rotary_factor");
            foreach (var key in new[] { "short_factor", "long_factor" })
            {
                var list = c["rope_scaling"]![key]!.AsArray();
                while (list.Count < 64) list.Add(list[^1]!.GetValue<double>());
            }
        }), dir, "partial rotary");
    }

    private static void SwapHalves(float[] values)
    {
        var half = values.Length / 2;
        for (var i = 0; i < half; i++) (values[i], values[half + i]) = (values[half + i], values[i]);
    }

    private static void SwapFirstTwoThirds(float[] values)
    {
        var third = values.Length / 3;
        for (var i = 0; i < third; i++) (values[i], values[third + i]) = (values[third + i], values[i]);
    }
}
