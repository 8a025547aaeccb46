using System.Text.Json.Nodes;
using Bento.ModelGen;
using Bento.Runtime.Model;
using static Bento.Runtime.Tests.Model.ModelTestSupport;
using static TorchSharp.torch;

namespace Bento.Runtime.Tests.Model;

/// <summary>
/// Phi-3 and Gemma through our two forward paths: the plain full-sequence forward (LlamaAttention.forward, an explicit
/// windowed causal mask) and the cached step (fused projections, managed decode kernels, the per-layer LayerAttention
/// in Attend and SmallBatchOps.DecodeAttention). They must agree at every position, with the managed kernels and
/// without, one sequence at a time and batched with others at other positions of the sliding window.
/// </summary>
public sealed class FamilyForwardTests
{
    private static readonly int[] Tokens = [507, 300, 17, 45, 200, 3, 99, 150, 42, 7, 311, 64, 507, 300, 17, 45, 200, 3, 99, 150, 42, 7, 311, 64, 5, 6, 7, 8];

    public static TheoryData<string> Templates => ["phi-3-mini-4k-instruct", "phi-4-mini-instruct", "gemma-2-2b-it", "gemma-3-1b-it"];

    /// <summary>A small model copying <paramref name="like"/>, with a sliding window of 8 (Gemma) crossed by the 28 tokens.</summary>
    private static async Task<string> SmallAsync(TempDirectory temp, string like, string torchDtype = "float32", Action<JsonObject>? editConfig = null)
    {
        var dir = Path.Combine(temp.Path, $"{like.Replace('.', '_')}-{Directory.GetDirectories(temp.Path).Length}");
        var gemma = like.StartsWith("gemma", StringComparison.Ordinal);
        await GenerateAsync(dir, new RandomModelSpec
        {
            Like = like, HiddenSize = 128, IntermediateSize = 256, Layers = gemma ? 6 : 2, Heads = 4, KeyValueHeads = 2,
            HeadDim = gemma ? 48 : null, MaxPositionEmbeddings = 4096, SlidingWindow = gemma ? 8 : null, Seed = 5, TorchDtype = torchDtype,
        }, initStd: 0.15);
        if (editConfig is not null) CopyWithConfig(dir, dir + "-edited", editConfig);
        return editConfig is null ? dir : dir + "-edited";
    }

    /// <summary>Logits of the full-sequence forward (no cache) for every position of <paramref name="tokens"/>.</summary>
    private static float[][] FullForward(LlamaForCausalLM model, int[] tokens)
    {
        using var mode = inference_mode();
        using var scope = NewDisposeScope();
        var input = tensor(tokens.Select(t => (long)t).ToArray(), [1, tokens.Length]);
        var logits = model.forward(input).to(ScalarType.Float32).squeeze(0);
        return Enumerable.Range(0, tokens.Length).Select(i => logits[i].data<float>().ToArray()).ToArray();
    }

    private static void CachedStepsEqualFullForward(string dir, bool managed)
    {
        using var runner = EagerModelRunner.Open(dir, new EagerRunnerOptions { Slots = 1, MaxSequenceLength = 64, ManagedDecodeKernel = managed });
        var full = FullForward(runner.Model, Tokens);
        // 18 tokens of prefill (LibTorch), then one token at a time (managed kernels when enabled).
        var logits = runner.Step([new StepInput(0, 0, Tokens.AsMemory(0, 18))]);
        Assert.True(MaxAbsDiff(logits, full[17]) < 1e-4 * (1 + MaxAbs(full[17])), $"prefill diff {MaxAbsDiff(logits, full[17])}");
        for (var p = 18; p < Tokens.Length; p++)
        {
            logits = runner.Step([new StepInput(0, p, Tokens.AsMemory(p, 1))]);
            Assert.True(MaxAbsDiff(logits, full[p]) < 1e-4 * (1 + MaxAbs(full[p])), $"position {p}: diff {MaxAbsDiff(logits, full[p])}");
        }
    }

    [Theory]
    [MemberData(nameof(Templates))]
    public async Task CachedStepsEqualTheFullSequenceForward(string like)
    {
        using var temp = new TempDirectory("bento-family-tests-");
        var dir = await SmallAsync(temp, like);
        CachedStepsEqualFullForward(dir, managed: true);
        CachedStepsEqualFullForward(dir, managed: false);
    }

    /// <summary>
    /// Gemma 2 27B scales scores by (hidden / heads)^-0.5, not head_dim^-0.5 (query_pre_attn_scalar 144 with head_dim 128):
    /// llama.cpp cannot be told (it derives the scale from the model size), so here both paths must apply it, and it
    /// must matter.
    /// </summary>
    [Fact]
    public async Task QueryPreAttnScalarOtherThanHeadDimIsApplied()
    {
        using var temp = new TempDirectory("bento-family-tests-");
        var plain = await SmallAsync(temp, "gemma-2-2b-it");
        var scaled = await SmallAsync(temp, "gemma-2-2b-it", editConfig: c => c["query_pre_attn_scalar"] = 12);
        Assert.Equal(1 / Math.Sqrt(12), ModelConfig.Load(scaled).AttentionScale, 15);
        CachedStepsEqualFullForward(scaled, managed: true);
        CachedStepsEqualFullForward(scaled, managed: false);
        using var a = EagerModelRunner.Open(plain, new EagerRunnerOptions { Slots = 1, MaxSequenceLength = 64 });
        using var b = EagerModelRunner.Open(scaled, new EagerRunnerOptions { Slots = 1, MaxSequenceLength = 64 });
        var prompt = Tokens[..12];
        Assert.True(MaxAbsDiff(a.Step([new StepInput(0, 0, prompt)]), b.Step([new StepInput(0, 0, prompt)])) > 1e-2);
    }

    [Fact]
    public async Task TheGgufExportRefusesWhatLlamaCppWouldComputeDifferently()
    {
        using var temp = new TempDirectory("bento-family-tests-");
        var scaled = await SmallAsync(temp, "gemma-2-2b-it", editConfig: c => c["query_pre_attn_scalar"] = 12);
        var e = Assert.Throws<NotSupportedException>(() => LlamaGgufExporter.Export(scaled, Path.Combine(temp.Path, "x.gguf")));
        Assert.Contains("query_pre_attn_scalar 12 != head_dim 48", e.Message);
        var uncapped = await SmallAsync(temp, "gemma-2-2b-it", editConfig: c => c["final_logit_softcapping"] = null);
        Assert.Contains("always soft-caps", Assert.Throws<NotSupportedException>(() => LlamaGgufExporter.Export(uncapped, Path.Combine(temp.Path, "y.gguf"))).Message);
        Assert.False(File.Exists(Path.Combine(temp.Path, "x.gguf")));
    }

    /// <summary>
    /// Three sequences at positions before, across and past the window, decoded together (with a prefill in the same
    /// step, which sends decode rows through Attend's batched mask instead of the managed kernel): each equals the
    /// sequence decoded alone.
    /// </summary>
    [Theory]
    [InlineData("gemma-3-1b-it", true)]
    [InlineData("gemma-3-1b-it", false)]
    [InlineData("gemma-2-2b-it", true)]
    public async Task BatchedDecodeAcrossTheWindowEqualsEachSequenceAlone(string like, bool managed)
    {
        using var temp = new TempDirectory("bento-family-tests-");
        var dir = await SmallAsync(temp, like);
        var options = new EagerRunnerOptions { Slots = 4, MaxSequenceLength = 64, ManagedDecodeKernel = managed };
        int[][] prompts = [Tokens[..3], Tokens[2..12], Tokens[..20]]; // 3 < window 8 < 10 < 20
        int[] slots = [3, 0, 2];
        var alone = new float[3][];
        using (var runner = EagerModelRunner.Open(dir, options))
            for (var s = 0; s < 3; s++)
            {
                runner.Step([new StepInput(slots[s], 0, prompts[s])]);
                alone[s] = runner.Step([new StepInput(slots[s], prompts[s].Length, new[] { 9 })]);
            }
        using (var runner = EagerModelRunner.Open(dir, options))
        {
            runner.Step(Enumerable.Range(0, 3).Select(s => new StepInput(slots[s], 0, prompts[s])).ToList());
            var decode = Enumerable.Range(0, 3).Select(s => new StepInput(slots[s], prompts[s].Length, new[] { 9 })).ToList();
            var rows = runner.Step(decode);
            for (var s = 0; s < 3; s++)
                Assert.True(MaxAbsDiff(rows.AsSpan(s * runner.VocabSize, runner.VocabSize), alone[s]) < 1e-4, $"decode-only step, sequence {s}");
            // The same decode rows again at the next position, now beside a prefill chunk.
            using var reference = EagerModelRunner.Open(dir, options);
            var mixed = runner.Step([.. decode.Select(d => d with { Position = d.Position + 1 }), new StepInput(1, 0, Tokens[..11])]);
            for (var s = 0; s < 3; s++)
            {
                reference.Step([new StepInput(slots[s], 0, prompts[s].Append(9).ToArray())]);
                var expected = reference.Step([new StepInput(slots[s], prompts[s].Length + 1, new[] { 9 })]);
                Assert.True(MaxAbsDiff(mixed.AsSpan(s * runner.VocabSize, runner.VocabSize), expected) < 1e-4, $"mixed step, sequence {s}");
            }
        }
    }

    /// <summary>Published Gemma 3 and Phi-3 checkpoints are bfloat16: served as stored, they track a float32 run.</summary>
    [Theory]
    [InlineData("gemma-3-1b-it")]
    [InlineData("phi-4-mini-instruct")]
    public async Task Bfloat16CheckpointsTrackFloat32(string like)
    {
        using var temp = new TempDirectory("bento-family-tests-");
        var dir = await SmallAsync(temp, like, "bfloat16");
        using var bf16 = EagerModelRunner.Open(dir, new EagerRunnerOptions { Slots = 1, MaxSequenceLength = 64 });
        using var fp32 = EagerModelRunner.Open(dir, new EagerRunnerOptions { Slots = 1, MaxSequenceLength = 64, Dtype = "float32" });
        Assert.Equal("bfloat16", bf16.Info.Dtype);
        var prompt = Tokens[..20];
        var a = fp32.Step([new StepInput(0, 0, prompt)]);
        var b = bf16.Step([new StepInput(0, 0, prompt)]);
        Assert.True(MaxAbsDiff(a, b) < 0.05 * MaxAbs(a) + 0.02, $"bf16 prefill diff {MaxAbsDiff(a, b)} vs scale {MaxAbs(a)}");
        var next = ArgMax(a);
        a = fp32.Step([new StepInput(0, prompt.Length, new[] { next })]);
        b = bf16.Step([new StepInput(0, prompt.Length, new[] { next })]);
        Assert.True(MaxAbsDiff(a, b) < 0.05 * MaxAbs(a) + 0.02, $"bf16 decode diff {MaxAbsDiff(a, b)} vs scale {MaxAbs(a)}");
    }

    [Fact]
    public async Task GemmaTrainsWithAutogradThroughItsNormsAndSoftCaps()
    {
        using var temp = new TempDirectory("bento-family-tests-");
        var config = ModelConfig.Load(await SmallAsync(temp, "gemma-2-2b-it"));
        using var model = LlamaForCausalLM.CreateRandom(config, seed: 3);
        var input = tensor(Tokens[..12].Select(t => (long)t).ToArray(), [1, 12]);
        var loss = nn.functional.cross_entropy(model.forward(input).squeeze(0)[..^1], input.squeeze(0)[1..]);
        loss.backward();
        var norm = model.model.layers[0].post_feedforward_layernorm!.weight;
        Assert.NotNull(norm.grad);
        Assert.True(norm.grad!.abs().sum().item<float>() > 0);
    }
}
