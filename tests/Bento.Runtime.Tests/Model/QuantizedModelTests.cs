using Bento.Core.Build;
using Bento.ModelGen;
using Bento.Runtime.Model;
using Xunit.Abstractions;
using static Bento.Runtime.Tests.Model.ModelTestSupport;
using static TorchSharp.torch;

namespace Bento.Runtime.Tests.Model;

/// <summary>
/// Serving int8 weights: quality against the unquantized model (greedy agreement and logit error, printed and
/// bounded) on the trained example and on a random model; the decode kernel against LibTorch's path; published
/// compressed-tensors checkpoints; bfloat16 checkpoints served as mapped.
/// </summary>
public sealed class QuantizedModelTests(ITestOutputHelper output)
{
    private const int Steps = 40;
    private static readonly int[] Prompt = [507, 300, 17, 45, 200, 3, 99, 150, 42, 7, 311, 64];

    /// <summary>build's quantizer applied to a model folder (the bento's model/ holds the same files).</summary>
    private static async Task<string> QuantizeAsync(string modelDir, string output, QuantizationScheme scheme)
    {
        var folder = await ModelInspector.InspectAsync(modelDir);
        await WeightQuantizer.QuantizeAsync(folder, scheme, output);
        return output;
    }

    /// <summary>
    /// Teacher-forced comparison along the reference's own greedy continuation: how often the quantized model picks
    /// the same token, the worst logit error relative to the logit range, and how many tokens free-running greedy
    /// decoding keeps identical.
    /// </summary>
    private (double Agreement, double WorstRelative, int FreeRun) Compare(IModelRunner reference, IModelRunner quantized, int[] prompt, string name)
    {
        var refRow = reference.Step([new StepInput(0, 0, prompt)]);
        var qRow = quantized.Step([new StepInput(0, 0, prompt)]);
        int agree = 0;
        double worst = 0, sumRelative = 0;
        for (var step = 0; step < Steps; step++)
        {
            var relative = MaxAbsDiff(refRow, qRow) / (double)MaxAbs(refRow);
            worst = Math.Max(worst, relative);
            sumRelative += relative;
            var next = ArgMax(refRow);
            if (ArgMax(qRow) == next) agree++;
            refRow = reference.Step([new StepInput(0, prompt.Length + step, new[] { next })]);
            qRow = quantized.Step([new StepInput(0, prompt.Length + step, new[] { next })]);
        }
        var a = Greedy(reference, prompt, Steps).Tokens;
        var b = Greedy(quantized, prompt, Steps).Tokens;
        var freeRun = a.Zip(b).TakeWhile(p => p.First == p.Second).Count();
        output.WriteLine($"{name}: teacher-forced greedy agreement {agree}/{Steps}, max |logit error| / max |logit| = {worst:P2} " +
                         $"(mean {sumRelative / Steps:P2}), free-running greedy identical for {freeRun}/{Steps} tokens");
        return ((double)agree / Steps, worst, freeRun);
    }

    [Theory]
    [InlineData("int8")]
    [InlineData("int8-g128")]
    public async Task TrainedExampleKeepsItsGreedyChoicesWhenQuantized(string scheme)
    {
        using var temp = new TempDirectory("bento-quant-tests-");
        var dir = await QuantizeAsync(TinyLlama, temp.Combine("q"), QuantizationScheme.Find(scheme)!);
        using var reference = EagerModelRunner.Open(TinyLlama, new EagerRunnerOptions { Slots = 1, MaxSequenceLength = 128 });
        using var quantized = EagerModelRunner.Open(dir, new EagerRunnerOptions { Slots = 1, MaxSequenceLength = 128 });
        Assert.Contains("30 of 30 matrices", quantized.Info.Quantization);
        Assert.True(quantized.Info.WeightBytes < reference.Info.WeightBytes * 0.3, $"{quantized.Info.WeightBytes} vs {reference.Info.WeightBytes}");
        var (agreement, worst, freeRun) = Compare(reference, quantized, Prompt[..4], $"tiny-llama {scheme}");
        Assert.True(agreement >= 0.95, $"agreement {agreement:P0}");
        Assert.True(worst < 0.03, $"worst relative logit error {worst:P2}");
        Assert.True(freeRun >= 20, $"free run {freeRun}");
    }

    /// <summary>
    /// A random model (Llama-shaped, tied embeddings, no training) is more sensitive than a trained one: its logits
    /// are a chaotic function of the weights. For scale the test also reports what mere bfloat16 rounding of the same
    /// weights does; int8 per channel stays within a few times that, group scales closer.
    /// </summary>
    [Theory]
    [InlineData(0.05)]
    [InlineData(0.1)]
    public async Task RandomModelTracksTheUnquantizedOne(double std)
    {
        using var temp = new TempDirectory("bento-quant-tests-");
        var dense = temp.Combine("dense");
        await GenerateAsync(dense, new RandomModelSpec
        {
            HiddenSize = 256, IntermediateSize = 512, Layers = 3, Heads = 8, KeyValueHeads = 2, TiedEmbeddings = true,
            MaxPositionEmbeddings = 256, Seed = 11,
        }, initStd: std);
        using var reference = EagerModelRunner.Open(dense, new EagerRunnerOptions { Slots = 1, MaxSequenceLength = 128 });
        double bf16Worst;
        using (var bf16 = EagerModelRunner.Open(dense, new EagerRunnerOptions { Slots = 1, MaxSequenceLength = 128, Dtype = "bfloat16" }))
            bf16Worst = Compare(reference, bf16, Prompt[..6], $"random 256x3 std {std} bfloat16 (for scale)").WorstRelative;
        foreach (var scheme in QuantizationScheme.All)
        {
            var dir = await QuantizeAsync(dense, temp.Combine(scheme.Name), scheme);
            using var quantized = EagerModelRunner.Open(dir, new EagerRunnerOptions { Slots = 1, MaxSequenceLength = 128 });
            var (agreement, worst, _) = Compare(reference, quantized, Prompt[..6], $"random 256x3 std {std} {scheme.Name}");
            // int8 rounding noise is ~6x bfloat16's on Gaussian weights (step max|w|/127 vs 8 significant bits).
            Assert.True(agreement >= 0.85, $"{scheme.Name}: agreement {agreement:P0}");
            Assert.True(worst <= 8 * bf16Worst, $"{scheme.Name}: worst relative logit error {worst:P2} vs bfloat16's {bf16Worst:P2}");
        }
    }

    /// <summary>
    /// The families whose layers differ from Llama's, quantized from bfloat16 checkpoints: Phi-3's fused qkv_proj and
    /// gate_up_proj become single int8 matrices, Gemma's int8 embedding keeps its sqrt(hidden) row scale rounded to
    /// bfloat16 (the checkpoint's dtype) and its tied head; gemma-3-4b-it's multimodal layout keeps its stored names.
    /// Each tracks its bfloat16 model as the Llama one does.
    /// </summary>
    [Theory]
    [InlineData(ModelFamily.Phi3)]
    [InlineData(ModelFamily.Gemma2)]
    [InlineData(ModelFamily.Gemma3)]
    [InlineData(ModelFamily.Gemma3, "gemma-3-4b-it")]
    public async Task OtherFamiliesTrackTheirBfloat16ModelWhenQuantized(ModelFamily family, string? like = null)
    {
        using var temp = new TempDirectory("bento-quant-tests-");
        var dense = temp.Combine("dense");
        await GenerateAsync(dense, new RandomModelSpec
        {
            Family = family, Like = like, HiddenSize = 256, IntermediateSize = 512, Layers = 2, Heads = 4, KeyValueHeads = 2, HeadDim = 64,
            VocabSize = 1024, TiedEmbeddings = family != ModelFamily.Phi3, MaxPositionEmbeddings = 256, TorchDtype = "bfloat16", Seed = 23,
        }, initStd: 0.1);
        var dir = await QuantizeAsync(dense, temp.Combine("int8"), QuantizationScheme.Int8);
        using var reference = EagerModelRunner.Open(dense, new EagerRunnerOptions { Slots = 1, MaxSequenceLength = 128 });
        using var quantized = EagerModelRunner.Open(dir, new EagerRunnerOptions { Slots = 1, MaxSequenceLength = 128 });
        Assert.Equal("bfloat16", reference.Info.Dtype);
        Assert.StartsWith("int8 per-channel", quantized.Info.Quantization);
        Assert.DoesNotContain("not quantized", quantized.Info.Quantization);
        var (agreement, worst, _) = Compare(reference, quantized, Prompt[..6], $"{like ?? family.ToString()} 256x2 bfloat16 -> int8");
        Assert.True(agreement >= 0.85, $"agreement {agreement:P0}");
        Assert.True(worst < 0.1, $"worst relative logit error {worst:P2}");
    }

    /// <summary>
    /// The managed int8 kernel (decode) and the LibTorch path (prefill: blocks of rows widened, GEMM) are two
    /// implementations of the same arithmetic: they must agree to float32 rounding, and the cached decode must equal
    /// the full-sequence forward.
    /// </summary>
    [Fact]
    public async Task ManagedInt8KernelMatchesLibTorchAndTheFullForward()
    {
        using var temp = new TempDirectory("bento-quant-tests-");
        var dir = await QuantizeAsync(TinyLlama, temp.Combine("q"), QuantizationScheme.Int8);
        using var fast = EagerModelRunner.Open(dir, new EagerRunnerOptions { Slots = 1, MaxSequenceLength = 64 });
        using var slow = EagerModelRunner.Open(dir, new EagerRunnerOptions { Slots = 1, MaxSequenceLength = 64, ManagedDecodeKernel = false });
        Assert.StartsWith("managed", fast.Info.DecodeKernel); // else both sides would be LibTorch and agree trivially
        var a = Greedy(fast, Prompt[..3], 12);
        var b = Greedy(slow, Prompt[..3], 12);
        Assert.Equal(b.Tokens, a.Tokens);
        for (var i = 0; i < a.Logits.Count; i++)
            Assert.True(MaxAbsDiff(a.Logits[i], b.Logits[i]) < 1e-4, $"step {i}: {MaxAbsDiff(a.Logits[i], b.Logits[i])}");

        using var mode = inference_mode();
        var tokens = Prompt.Concat(Prompt[..8]).ToArray();
        var full = fast.Model.forward(tensor(tokens.Select(t => (long)t).ToArray(), [1, tokens.Length])).squeeze(0);
        using var runner = EagerModelRunner.Open(dir, new EagerRunnerOptions { Slots = 1, MaxSequenceLength = 64 });
        var row = runner.Step([new StepInput(0, 0, tokens.AsMemory(0, 18))]); // past MaxManagedRows: LibTorch prefill
        Assert.True(MaxAbsDiff(row, full[17].data<float>().ToArray()) < 1e-4);
        for (var p = 18; p < tokens.Length; p++)
        {
            row = runner.Step([new StepInput(0, p, tokens.AsMemory(p, 1))]);
            Assert.True(MaxAbsDiff(row, full[p].data<float>().ToArray()) < 1e-4, $"position {p}");
        }
    }

    /// <summary>
    /// Checkpoints as llm-compressor publishes them (written by an independent fixture writer): bfloat16 model with
    /// Linear layers in int8 (pack-quantized per channel, or int-quantized in groups of 32), lm_head and the embedding
    /// left in bfloat16. Served as stored, they track the bfloat16 model.
    /// </summary>
    [Theory]
    [InlineData("pack-quantized", null)]
    [InlineData("int-quantized", 32)]
    public async Task PublishedCompressedTensorsCheckpointsServe(string format, int? groupSize)
    {
        using var temp = new TempDirectory("bento-quant-tests-");
        var dense = temp.Combine("dense");
        await GenerateAsync(dense, new RandomModelSpec
        {
            HiddenSize = 128, IntermediateSize = 256, Layers = 2, Heads = 4, KeyValueHeads = 2, MaxPositionEmbeddings = 128,
            TorchDtype = "bfloat16", Seed = 3,
        }, initStd: 0.1);
        var dir = temp.Combine("published");
        CompressedTensorsCheckpoint.Write(dense, dir, format, groupSize);
        using var reference = EagerModelRunner.Open(dense, new EagerRunnerOptions { Slots = 1, MaxSequenceLength = 128 });
        using var quantized = EagerModelRunner.Open(dir, new EagerRunnerOptions { Slots = 1, MaxSequenceLength = 128 });
        Assert.Equal("bfloat16", quantized.Info.Dtype);
        var kind = groupSize is null ? "int8 per-channel" : $"int8 group {groupSize}";
        Assert.Equal($"{kind}: 14 of 16 matrices (lm_head.weight, model.embed_tokens.weight not quantized)", quantized.Info.Quantization);
        using (var checkpoint = SafetensorsCheckpoint.Open(dir))
        {
            var config = ModelConfig.Load(dir);
            using var model = LlamaForCausalLM.FromCheckpoint(config, checkpoint, ScalarType.BFloat16, computeDtype: ScalarType.Float32);
            var q = model.model.layers[0].self_attn.q_proj;
            Assert.True(checkpoint.IsMapped(q.weight), "int8 weights are views of the file");
            Assert.Equal(format == "pack-quantized" ? WeightFormat.UInt8Offset128 : WeightFormat.Int8, q.Matrix.Format);
            Assert.True(checkpoint.IsMapped(model.model.embed_tokens.weight), "the bfloat16 embedding too");
        }
        var (agreement, worst, _) = Compare(reference, quantized, Prompt[..5], $"published {format} {kind}");
        Assert.True(agreement >= 0.85, $"agreement {agreement:P0}");
        Assert.True(worst < 0.1, $"worst relative logit error {worst:P2}");
    }

    /// <summary>A bfloat16 checkpoint is served as stored: its matrices are views of the file (no float32 copy), the
    /// managed kernel decodes them, and the result tracks a float32 run of the same weights.</summary>
    [Fact]
    public async Task Bfloat16CheckpointIsServedMappedAndTracksFloat32()
    {
        using var temp = new TempDirectory("bento-quant-tests-");
        var dir = temp.Combine("bf16");
        await GenerateAsync(dir, new RandomModelSpec
        {
            HiddenSize = 128, IntermediateSize = 256, Layers = 2, Heads = 4, KeyValueHeads = 2, MaxPositionEmbeddings = 128,
            TorchDtype = "bfloat16", TiedEmbeddings = true, Seed = 4,
        }, initStd: 0.1);
        var config = ModelConfig.Load(dir);
        using (var checkpoint = SafetensorsCheckpoint.Open(dir))
        {
            using var model = LlamaForCausalLM.FromCheckpoint(config, checkpoint, ScalarType.BFloat16, computeDtype: ScalarType.Float32);
            foreach (var (name, p) in model.named_parameters().Where(p => p.parameter.dim() == 2))
                Assert.True(checkpoint.IsMapped(p), $"{name} is a copy");
            Assert.Equal(ScalarType.Float32, model.model.norm.weight.dtype);
        }
        using var bf16 = EagerModelRunner.Open(dir, new EagerRunnerOptions { Slots = 1, MaxSequenceLength = 64 });
        using var fp32 = EagerModelRunner.Open(dir, new EagerRunnerOptions { Slots = 1, MaxSequenceLength = 64, Dtype = "float32" });
        using var libTorch = EagerModelRunner.Open(dir, new EagerRunnerOptions { Slots = 1, MaxSequenceLength = 64, ManagedDecodeKernel = false });
        Assert.Equal(("bfloat16", "float32"), (bf16.Info.Dtype, bf16.Info.ActivationDtype));
        Assert.Null(bf16.Info.Quantization);
        // The weights hold bfloat16 values exactly, so float32 arithmetic on them matches the float32 copy closely.
        var a = Greedy(bf16, Prompt[..4], 16);
        var b = Greedy(fp32, Prompt[..4], 16);
        var c = Greedy(libTorch, Prompt[..4], 16);
        Assert.Equal(b.Tokens, a.Tokens);
        Assert.Equal(c.Tokens, a.Tokens);
        for (var i = 0; i < a.Logits.Count; i++)
        {
            Assert.True(MaxAbsDiff(a.Logits[i], b.Logits[i]) < 1e-4, $"step {i} vs float32: {MaxAbsDiff(a.Logits[i], b.Logits[i])}");
            Assert.True(MaxAbsDiff(a.Logits[i], c.Logits[i]) < 1e-4, $"step {i} vs LibTorch: {MaxAbsDiff(a.Logits[i], c.Logits[i])}");
        }
    }
}
