using System.Text.Json.Nodes;
using Bento.ModelGen;
using Bento.Runtime.Model;
using Xunit.Abstractions;
using static Bento.Runtime.Tests.Model.ModelTestSupport;

namespace Bento.Runtime.Tests.Model;

/// <summary>
/// Gemma 2 and Gemma 3 (text) against llama.cpp's gemma2 / gemma3 graphs on generated weights with the published
/// configs' keys, scaled down, with a sliding window of 16 so the 60 positions of a run cross it: 40 greedy tokens
/// identical and every step's logits within <see cref="Tolerance"/> x (1 + max |logit|). The tolerance is looser than
/// the SwiGLU families' 1e-4 because ggml's CPU GELU reads a float16 table (input and output rounded to float16,
/// ~5e-4 relative per activation) where transformers' gelu_pytorch_tanh - and our runner - compute it in float32:
/// measured worst 3.4e-3 (Gemma 2, with scores and logits large enough for the soft-caps to bend) and 4.1e-4
/// (Gemma 3); with that float16 rounding emulated on our side (a one-off experiment) they drop to 2.2e-4 and 1.7e-4.
/// Each family difference is also undone once on our side, and the comparison must then fail by at least twice the
/// tolerance.
/// </summary>
[Trait("Category", "Slow")]
public sealed class GemmaCrossCheckTests(ITestOutputHelper output)
{
    private const int Steps = 40;
    private const float Tolerance = 5e-3f;
    private const int Window = 16;

    // 20 tokens: past Projector.MaxManagedRows (LibTorch prefill, managed decode) and past the window.
    private static readonly int[] Prompt = [507, 40, 41, 42, 43, 300, 301, 5, 6, 7, 8, 9, 60, 61, 62, 63, 200, 201, 202, 17];

    /// <summary>gemma-2-2b-it's shape: head_dim (256) other than hidden / heads (288), 2:1 grouped-query attention, 4x MLP;
    /// scaled to head_dim 128 of hidden 384 with 4 / 2 heads. Layer 0 slides, layer 1 is global.</summary>
    private static readonly RandomModelSpec Gemma2 = new()
    {
        Like = "gemma-2-2b-it", HiddenSize = 384, IntermediateSize = 1536, Layers = 2, Heads = 4, KeyValueHeads = 2, HeadDim = 128,
        VocabSize = 1024, MaxPositionEmbeddings = 512, SlidingWindow = Window, Seed = 41,
    };

    /// <summary>gemma-3-1b-it's shape: 4 query heads sharing 1 kv head of 256 (hidden 1152), 6x MLP; scaled to head_dim 128
    /// of hidden 384, 6 layers so the 5-local-1-global pattern has its global layer (5).</summary>
    private static readonly RandomModelSpec Gemma3 = new()
    {
        Like = "gemma-3-1b-it", HiddenSize = 384, IntermediateSize = 2304, Layers = 6, Heads = 4, KeyValueHeads = 1, HeadDim = 128,
        VocabSize = 1024, MaxPositionEmbeddings = 512, SlidingWindow = Window, Seed = 43,
    };

    /// <summary>
    /// Embeddings at a quarter of the init and the MLP outputs' norms doubled: Gemma multiplies embeddings by
    /// sqrt(hidden) while its post-norms hold each layer's contribution near unit size, so at the plain init the (tied)
    /// head would mostly see the current token's own embedding and greedy decoding would repeat it forever.
    /// </summary>
    private static void Balanced(string name, float[] values)
    {
        if (name == "model.embed_tokens.weight")
            for (var i = 0; i < values.Length; i++) values[i] *= 0.25f;
        if (name.EndsWith("post_feedforward_layernorm.weight", StringComparison.Ordinal))
            for (var i = 0; i < values.Length; i++) values[i] += 1; // (1 + w) around 2
    }

    /// <summary>As <see cref="Balanced"/>, with q and k weights 3x the init and the final norm's scale around 10:
    /// attention scores and logits reach the tens, where Gemma 2's soft-caps (50 and 30) bend them.</summary>
    private static void LargeScores(string name, float[] values)
    {
        Balanced(name, values);
        if (name.EndsWith("q_proj.weight", StringComparison.Ordinal) || name.EndsWith("k_proj.weight", StringComparison.Ordinal))
            for (var i = 0; i < values.Length; i++) values[i] *= 3;
        if (name == "model.norm.weight")
            for (var i = 0; i < values.Length; i++) values[i] += 9;
    }

    private void Matches(string dir, string name)
    {
        var result = LlamaCppComparison.Run(dir, Prompt, Steps);
        output.WriteLine($"{name}: {result}");
        output.WriteLine($"{name}: tokens {string.Join(' ', result.ReferenceTokens)}");
        Assert.True(result.WorstRelativeDiff <= Tolerance, $"{name}: {result}");
        Assert.Equal(result.ReferenceTokens, result.OurTokens);
    }

    private void Diverges(string skipped, string dir, string what)
    {
        var result = LlamaCppComparison.Run(skipped, Prompt, 4, referenceModel: dir);
        output.WriteLine($"without {what}: {result}");
        Assert.True(result.WorstRelativeDiff > 2 * Tolerance, $"skipping {what} went unnoticed: {result}");
    }

    private static Action<string, float[]> NormsWithoutPlusOne(Action<string, float[]>? then = null) => (name, values) =>
    {
        then?.Invoke(name, values);
        if (name.EndsWith("norm.weight", StringComparison.Ordinal))
            for (var i = 0; i < values.Length; i++) values[i] -= 1; // (1 + (w - 1)) = w: a plain RMSNorm of the same weights
    };

    [Fact]
    public async Task Gemma2ShapedModelMatchesLlamaCpp()
    {
        using var temp = new TempDirectory("bento-gemma-tests-");
        var dir = Path.Combine(temp.Path, "gemma-2");
        await GenerateAsync(dir, Gemma2, initStd: 0.1, edit: LargeScores);
        var config = ModelConfig.Load(dir);
        Assert.Equal(("Gemma2ForCausalLM", true, true, 50.0, 30.0), (config.Architecture, config.GemmaBlock, config.TieWordEmbeddings, config.AttnLogitSoftcapping, config.FinalLogitSoftcapping));
        Assert.Equal([Window, null], new[] { config.Attention(0).Window, config.Attention(1).Window });
        Matches(dir, "gemma-2-2b-shaped");

        Diverges(CopyWithConfig(dir, Path.Combine(temp.Path, "no-attn-cap"), c => c["attn_logit_softcapping"] = null), dir, "attention soft-capping");
        Diverges(CopyWithConfig(dir, Path.Combine(temp.Path, "no-final-cap"), c => c["final_logit_softcapping"] = null), dir, "final soft-capping");
        Diverges(CopyWithConfig(dir, Path.Combine(temp.Path, "no-window"), c => c["sliding_window"] = 4096), dir, "the sliding window");
        Diverges(CopyWithConfig(dir, Path.Combine(temp.Path, "both-global"), c => c["layer_types"] = new JsonArray("full_attention", "full_attention")),
            dir, "the sliding/global interleaving");
        var plainNorms = Path.Combine(temp.Path, "plain-norms");
        await GenerateAsync(plainNorms, Gemma2, initStd: 0.1, edit: NormsWithoutPlusOne(LargeScores));
        Diverges(plainNorms, dir, "(1 + w) norms");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Gemma3ShapedModelMatchesLlamaCpp(bool linearScaling)
    {
        using var temp = new TempDirectory("bento-gemma-tests-");
        var dir = Path.Combine(temp.Path, "gemma-3");
        // gemma-3-4b-it and larger scale their global layers' RoPE linearly by 8 (text_config.rope_scaling); 1b does not.
        await GenerateAsync(dir, linearScaling ? Gemma3 with { RopeScaling = new RopeScalingSpec("linear", 8.0) } : Gemma3, initStd: 0.1, edit: Balanced);
        var config = ModelConfig.Load(dir);
        Assert.Equal(("Gemma3ForCausalLM", "gemma3_text", true, null, null), (config.Architecture, config.ModelType, config.QkNorm, config.AttnLogitSoftcapping, config.FinalLogitSoftcapping));
        Assert.Equal([true, true, true, true, true, false], Enumerable.Range(0, 6).Select(l => config.Attention(l).Window == Window && config.Attention(l).LocalRope));
        Assert.Equal(linearScaling ? "linear" : null, config.RopeScaling?.Type);
        Matches(dir, $"gemma-3-1b-shaped{(linearScaling ? " with linear global RoPE scaling" : "")}");

        Diverges(CopyWithConfig(dir, Path.Combine(temp.Path, "no-window"), c => c["sliding_window"] = 4096), dir, "the sliding window");
        Diverges(CopyWithConfig(dir, Path.Combine(temp.Path, "pattern-3"), c => c["sliding_window_pattern"] = 3), dir, "the 5:1 interleaving");
        Diverges(CopyWithConfig(dir, Path.Combine(temp.Path, "one-base"), c => c["rope_local_base_freq"] = 1_000_000.0), dir, "the local RoPE base");
        if (linearScaling)
            Diverges(CopyWithConfig(dir, Path.Combine(temp.Path, "unscaled"), c => c["rope_scaling"] = null), dir, "the global layers' RoPE scaling");
        var plainNorms = Path.Combine(temp.Path, "plain-norms");
        await GenerateAsync(plainNorms, linearScaling ? Gemma3 with { RopeScaling = new RopeScalingSpec("linear", 8.0) } : Gemma3, initStd: 0.1, edit: NormsWithoutPlusOne(Balanced));
        Diverges(plainNorms, dir, "(1 + w) norms");
    }

    /// <summary>
    /// gemma-3-4b-it's checkpoint layout (Gemma3ForConditionalGeneration: text_config, language_model.* tensors, a vision
    /// tower) is served as its text model: the same greedy tokens and logits (to float32 rounding) as the text-only checkpoint of the same weights
    /// (Gemma3ForCausalLM, every key spelled out), and llama.cpp's gemma3 graph on the GGUF exported from it.
    /// </summary>
    [Fact]
    public async Task Gemma3MultimodalCheckpointServesItsTextModel()
    {
        using var temp = new TempDirectory("bento-gemma-tests-");
        var dir = Path.Combine(temp.Path, "gemma-3-4b");
        await GenerateAsync(dir, Gemma3 with { Like = "gemma-3-4b-it" }, initStd: 0.1, edit: Balanced);
        var config = ModelConfig.Load(dir);
        Assert.Equal(("Gemma3ForConditionalGeneration", "gemma3", "linear", 512), (config.Architecture, config.ModelType, config.RopeScaling?.Type, config.MaxPositionEmbeddings));
        Assert.Contains((await Bento.Core.Model.SafetensorsHeader.ReadAsync(Path.Combine(dir, "model.safetensors"))).Tensors,
            t => t.Name == "vision_tower.vision_model.embeddings.patch_embedding.weight");

        var twin = Path.Combine(temp.Path, "gemma-3-text");
        await GenerateAsync(twin, Gemma3 with { RopeScaling = new RopeScalingSpec("linear", 8.0) }, initStd: 0.1, edit: Balanced);
        Assert.Equal("Gemma3ForCausalLM", ModelConfig.Load(twin).Architecture);
        var options = new EagerRunnerOptions { Slots = 1, MaxSequenceLength = 128 };
        using (var multimodal = EagerModelRunner.Open(dir, options))
        using (var text = EagerModelRunner.Open(twin, options))
        {
            var a = Greedy(multimodal, Prompt, 8);
            var b = Greedy(text, Prompt, 8);
            Assert.Equal(b.Tokens, a.Tokens);
            // Not bit for bit: the vision tensors move the text tensors' offsets in the file, so rows start at another
            // alignment and the kernel's one-by-one head columns (and with them the order of the sums) differ.
            for (var i = 0; i < a.Logits.Count; i++)
                Assert.True(MaxAbsDiff(a.Logits[i], b.Logits[i]) <= 1e-5f * (1 + MaxAbs(b.Logits[i])), $"step {i}: {MaxAbsDiff(a.Logits[i], b.Logits[i])}");
        }
        Matches(dir, "gemma-3-4b-shaped (multimodal layout)");
    }
}
