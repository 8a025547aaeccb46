using Bento.ModelGen;
using Bento.Runtime.Model;
using Xunit.Abstractions;
using static Bento.Runtime.Tests.Model.ModelTestSupport;

namespace Bento.Runtime.Tests.Model;

/// <summary>
/// Our runner against llama.cpp on the same weights (exported to an F32 GGUF): greedy tokens must be identical and
/// the logits close. Tolerance: max |ours - llama.cpp| over the vocabulary &lt;= 1e-4 x (1 + max |logit|) at every
/// step, for every family - both sides compute in float32 (llama.cpp with a float32 KV cache), so differences are
/// summation-order rounding, ~1e-6 to 1e-5 in practice (each test prints its worst).
/// </summary>
[Trait("Category", "Slow")]
public sealed class LlamaCppCrossCheckTests(ITestOutputHelper output)
{
    private const int Steps = 40;

    private void CrossCheck(string modelDir, int[] prompt, string name)
    {
        var result = LlamaCppComparison.Run(modelDir, prompt, Steps);
        output.WriteLine($"{name}: {result}");
        output.WriteLine($"{name}: tokens {string.Join(' ', result.ReferenceTokens)}");
        Assert.True(result.WorstRelativeDiff <= 1e-4, $"{name}: {result}");
        Assert.Equal(result.ReferenceTokens, result.OurTokens);
    }

    [Fact]
    public void TinyLlamaExampleMatchesLlamaCpp()
    {
        CrossCheck(TinyLlama, [507, 17, 230, 45, 300, 12, 99, 150], "tiny-llama");
    }

    [Fact]
    public async Task RandomModelWithGqaAndTiedEmbeddingsMatchesLlamaCpp()
    {
        using var temp = new TempDirectory("bento-model-tests-");
        var dir = Path.Combine(temp.Path, "gqa-tied");
        // normal(0, 0.02) weights give nearly flat logits (greedy picks decided by rounding noise); a 0.15 init gives
        // margins of ~1e-1 between the top candidates, so token identity is a meaningful check.
        var generated = await GenerateAsync(dir, new RandomModelSpec
        {
            HiddenSize = 256, IntermediateSize = 512, Layers = 3, Heads = 8, KeyValueHeads = 2,
            TiedEmbeddings = true, MaxPositionEmbeddings = 256, Seed = 7,
        }, initStd: 0.15);
        Assert.True(generated.Config.TieWordEmbeddings);
        Assert.DoesNotContain(LlamaForCausalLM.WeightNames(ModelConfig.Load(dir)), n => n == "lm_head.weight");
        CrossCheck(dir, [507, 40, 41, 42, 43, 300, 301, 5, 6, 7, 8, 9], "random gqa+tied");
    }

    /// <summary>
    /// Qwen2.5-0.5B-Instruct's published shapes (hidden 896, 14 query / 2 kv heads, head_dim 64, ffn 4864, tied,
    /// rope_theta 1e6, sliding_window present but use_sliding_window false) scaled down to 2 layers and a 1024-token
    /// vocabulary. Random q/k/v biases: llama.cpp's qwen2 graph requires and adds them, so a bias we dropped or added to
    /// the wrong columns would move the logits far past the tolerance.
    /// </summary>
    [Fact]
    public async Task Qwen25ShapedModelWithQkvBiasesMatchesLlamaCpp()
    {
        using var temp = new TempDirectory("bento-model-tests-");
        var dir = Path.Combine(temp.Path, "qwen2.5");
        await GenerateAsync(dir, new RandomModelSpec
        {
            Family = ModelFamily.Qwen2, HiddenSize = 896, IntermediateSize = 4864, Layers = 2, Heads = 14, KeyValueHeads = 2,
            VocabSize = 1024, TiedEmbeddings = true, RopeTheta = 1e6, MaxPositionEmbeddings = 32768, Seed = 11,
        }, initStd: 0.08);
        var config = ModelConfig.Load(dir);
        Assert.Equal(("Qwen2ForCausalLM", true, false, null), (config.Architecture, config.QkvBias, config.QkNorm, config.SlidingWindow));
        Assert.Equal(64, config.HeadDim);
        CrossCheck(dir, [507, 40, 41, 42, 43, 300, 301, 5, 6, 7, 8, 9], "qwen2.5-shaped");
    }

    /// <summary>
    /// Qwen3-0.6B's published shapes (hidden 1024, 16 query / 8 kv heads, head_dim 128 - not 1024 / 16 -, ffn 3072,
    /// tied, rope_theta 1e6) scaled down to 2 layers and a 1024-token vocabulary. q_norm/k_norm weights are 1 + noise, so
    /// a norm skipped, applied after RoPE or over the wrong axis would show.
    /// </summary>
    [Fact]
    public async Task Qwen3ShapedModelWithQkNormsAndWideHeadsMatchesLlamaCpp()
    {
        using var temp = new TempDirectory("bento-model-tests-");
        var dir = Path.Combine(temp.Path, "qwen3");
        await GenerateAsync(dir, new RandomModelSpec
        {
            Family = ModelFamily.Qwen3, HiddenSize = 1024, IntermediateSize = 3072, Layers = 2, Heads = 16, KeyValueHeads = 8,
            HeadDim = 128, VocabSize = 1024, TiedEmbeddings = true, RopeTheta = 1e6, MaxPositionEmbeddings = 40960, Seed = 13,
        }, initStd: 0.08);
        var config = ModelConfig.Load(dir);
        Assert.Equal(("Qwen3ForCausalLM", false, true, 128), (config.Architecture, config.QkvBias, config.QkNorm, config.HeadDim));
        // 20 prompt tokens: past Projector.MaxManagedRows, so the prefill takes the LibTorch path and decode the managed one.
        CrossCheck(dir, [507, 40, 41, 42, 43, 300, 301, 5, 6, 7, 8, 9, 60, 61, 62, 63, 200, 201, 202, 17], "qwen3-shaped");
    }

    /// <summary>
    /// Llama's rope_scaling kinds against llama.cpp, on Llama-3.2-1B's shape (hidden 2048, 32 / 8 heads of 64, tied,
    /// rope_theta 500000; scaled to hidden 256, 8 / 2 heads of 32) with a 2048-token context: "llama3" as Llama 3.1 /
    /// 3.2 publish it (factor 32 from original 128 = 8192 / 131072 of 2048; exported as llama.cpp's rope_freqs),
    /// "linear" (factor 4, as in Llama 2 long-context fine-tunes; exported as rope.scaling.type linear) and "dynamic"
    /// (factor 2; below its original length it changes nothing, and llama.cpp runs it unscaled). A runner that ignored
    /// llama3 or linear scaling must fail the comparison.
    /// </summary>
    [Theory]
    [InlineData("llama3")]
    [InlineData("linear")]
    [InlineData("dynamic")]
    public async Task LlamaRopeScalingKindsMatchLlamaCpp(string kind)
    {
        using var temp = new TempDirectory("bento-model-tests-");
        var dir = Path.Combine(temp.Path, $"llama-{kind}");
        var spec = new RandomModelSpec
        {
            Like = "llama-3.2-1b-instruct", HiddenSize = 256, IntermediateSize = 512, Layers = 2, Heads = 8, KeyValueHeads = 2,
            VocabSize = 1024, MaxPositionEmbeddings = 2048, Seed = 17,
        };
        if (kind != "llama3") spec = spec with { RopeScaling = new RopeScalingSpec(kind, kind == "linear" ? 4.0 : 2.0) };
        await GenerateAsync(dir, spec, initStd: 0.12);
        var config = ModelConfig.Load(dir);
        Assert.Equal((kind, true, 500000.0), (config.RopeScaling!.Type, config.TieWordEmbeddings, config.RopeTheta));
        if (kind == "llama3") Assert.Equal((32.0, 128), (config.RopeScaling.Factor, config.RopeScaling.OriginalMaxPositionEmbeddings));
        int[] prompt = [507, 40, 41, 42, 43, 300, 301, 5, 6, 7, 8, 9, 60, 61, 62, 63, 200, 201, 202, 17];
        var result = LlamaCppComparison.Run(dir, prompt, 40);
        output.WriteLine($"llama ({kind}): {result}");
        Assert.True(result.WorstRelativeDiff <= 1e-4, result.ToString());
        Assert.Equal(result.ReferenceTokens, result.OurTokens);
        if (kind == "dynamic") return;
        var unscaled = ModelTestSupport.CopyWithConfig(dir, Path.Combine(temp.Path, "unscaled"), c => c["rope_scaling"] = null);
        var skipped = LlamaCppComparison.Run(unscaled, prompt, 4, referenceModel: dir);
        output.WriteLine($"llama ({kind}) without the scaling: {skipped}");
        Assert.True(skipped.WorstRelativeDiff > 1e-3, skipped.ToString());
    }

    [Fact]
    public void GgufFileIsWellFormed()
    {
        using var temp = new TempDirectory("bento-model-tests-");
        var gguf = Path.Combine(temp.Path, "tiny.gguf");
        LlamaGgufExporter.Export(TinyLlama, gguf, GgmlType.F32);
        using var reference = new LlamaCppReference(gguf, contextSize: 64);
        Assert.Equal(512, reference.VocabSize);
        var bytes = File.ReadAllBytes(gguf);
        Assert.Equal("GGUF"u8.ToArray(), bytes[..4]);
        Assert.Equal(3u, BitConverter.ToUInt32(bytes, 4));
        Assert.Equal(4UL * 9 + 3, BitConverter.ToUInt64(bytes, 8)); // tensors: 9 per layer + embd, norm, output
        Assert.Equal(0, bytes.Length % GgufWriter.Alignment);
    }

    [Fact]
    public void Float16GgufLoadsAndStaysClose()
    {
        using var temp = new TempDirectory("bento-model-tests-");
        var gguf = Path.Combine(temp.Path, "tiny-f16.gguf");
        LlamaGgufExporter.Export(TinyLlama, gguf, GgmlType.F16);
        using var reference = new LlamaCppReference(gguf, contextSize: 64);
        using var ours = EagerModelRunner.Open(TinyLlama, new EagerRunnerOptions { Slots = 1, MaxSequenceLength = 64 });
        int[] prompt = [507, 17, 230, 45];
        var a = ours.Step([new StepInput(0, 0, prompt)]);
        var b = reference.Decode(prompt, 0);
        Assert.True(MaxAbsDiff(a, b) < 2e-2 * (1 + MaxAbs(a)), $"f16 diff {MaxAbsDiff(a, b)}");
    }
}
