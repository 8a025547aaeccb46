using Bento.ModelGen;
using Bento.Runtime.Model;
using TorchSharp;
using static Bento.Runtime.Tests.Model.ModelTestSupport;
using static TorchSharp.torch;

namespace Bento.Runtime.Tests.Model;

public sealed class LlamaModelTests
{
    private static readonly int[] Prompt = [507, 300, 17, 45, 200, 3, 99, 150, 42, 7, 311, 64];

    /// <summary>Logits of the full-sequence forward (no cache) for every position of <paramref name="tokens"/>.</summary>
    private static float[][] FullForward(LlamaForCausalLM model, int[] tokens)
    {
        using var mode = inference_mode();
        using var scope = NewDisposeScope();
        var input = tensor(tokens.Select(t => (long)t).ToArray(), [1, tokens.Length]);
        var logits = model.forward(input).to(ScalarType.Float32).squeeze(0);
        return Enumerable.Range(0, tokens.Length).Select(i => logits[i].data<float>().ToArray()).ToArray();
    }

    [Fact]
    public void KvCachedDecodeEqualsFullSequenceForward()
    {
        using var runner = EagerModelRunner.Open(TinyLlama, new EagerRunnerOptions { Slots = 2, MaxSequenceLength = 64 });
        var full = FullForward(runner.Model, Prompt);

        // Prefill the first 5 tokens, then decode the rest one at a time (slot 1, to not rely on slot 0).
        var logits = runner.Step([new StepInput(1, 0, Prompt.AsMemory(0, 5))]);
        Assert.True(MaxAbsDiff(logits, full[4]) < 1e-4, $"prefill diff {MaxAbsDiff(logits, full[4])}");
        for (var p = 5; p < Prompt.Length; p++)
        {
            logits = runner.Step([new StepInput(1, p, Prompt.AsMemory(p, 1))]);
            Assert.True(MaxAbsDiff(logits, full[p]) < 1e-4, $"position {p}: diff {MaxAbsDiff(logits, full[p])}");
        }
        // A second prefill chunk on top of cached tokens (queries start past position 0: explicit mask).
        var logits2 = runner.Step([new StepInput(0, 0, Prompt.AsMemory(0, 3))]);
        Assert.True(MaxAbsDiff(logits2, full[2]) < 1e-4);
        logits2 = runner.Step([new StepInput(0, 3, Prompt.AsMemory(3, Prompt.Length - 3))]);
        Assert.True(MaxAbsDiff(logits2, full[^1]) < 1e-4, $"chunked prefill diff {MaxAbsDiff(logits2, full[^1])}");
    }

    /// <summary>
    /// The full-sequence forward (LlamaAttention.forward: biases inside the projections, norms before the transpose)
    /// and the cached step (FinishProjection on the fused q|k|v) are two implementations of each family's difference;
    /// they must agree at every position, for a prompt past Projector.MaxManagedRows (LibTorch prefill) and then
    /// single-token decode (managed kernel).
    /// </summary>
    [Theory]
    [InlineData(ModelFamily.Qwen2, null)]
    [InlineData(ModelFamily.Qwen3, 48)]
    public async Task QwenFamiliesCachedStepsEqualFullSequenceForward(ModelFamily family, int? headDim)
    {
        using var temp = new TempDirectory("bento-model-tests-");
        var dir = await SmallQwenAsync(temp, family, headDim);
        int[] tokens = [.. Prompt, .. Prompt[..8]];
        using var runner = EagerModelRunner.Open(dir, new EagerRunnerOptions { Slots = 1, MaxSequenceLength = 64 });
        var full = FullForward(runner.Model, tokens);
        var logits = runner.Step([new StepInput(0, 0, tokens.AsMemory(0, 18))]);
        Assert.True(MaxAbsDiff(logits, full[17]) < 1e-4, $"prefill diff {MaxAbsDiff(logits, full[17])}");
        for (var p = 18; p < tokens.Length; p++)
        {
            logits = runner.Step([new StepInput(0, p, tokens.AsMemory(p, 1))]);
            Assert.True(MaxAbsDiff(logits, full[p]) < 1e-4, $"position {p}: diff {MaxAbsDiff(logits, full[p])}");
        }
    }

    private static async Task<string> SmallQwenAsync(TempDirectory temp, ModelFamily family, int? headDim, string torchDtype = "float32")
    {
        var dir = Path.Combine(temp.Path, family.ModelType());
        await GenerateAsync(dir, new RandomModelSpec
        {
            Family = family, HiddenSize = 128, IntermediateSize = 256, Layers = 2, Heads = 4, KeyValueHeads = 2, HeadDim = headDim,
            TiedEmbeddings = true, RopeTheta = 1e6, MaxPositionEmbeddings = 256, Seed = 5, TorchDtype = torchDtype,
        }, initStd: 0.15);
        return dir;
    }

    /// <summary>Published Qwen checkpoints are bfloat16: served as stored (dtype auto), the biases and q/k norms run
    /// in bfloat16 and track a float32 run of the same weights.</summary>
    [Theory]
    [InlineData(ModelFamily.Qwen2, null)]
    [InlineData(ModelFamily.Qwen3, 48)]
    public async Task QwenBfloat16CheckpointsServeAsStoredAndTrackFloat32(ModelFamily family, int? headDim)
    {
        using var temp = new TempDirectory("bento-model-tests-");
        var dir = await SmallQwenAsync(temp, family, headDim, "bfloat16");
        using var bf16 = EagerModelRunner.Open(dir, new EagerRunnerOptions { Slots = 1, MaxSequenceLength = 64 });
        using var fp32 = EagerModelRunner.Open(dir, new EagerRunnerOptions { Slots = 1, MaxSequenceLength = 64, Dtype = "float32" });
        Assert.Equal("bfloat16", bf16.Info.Dtype);
        var a = fp32.Step([new StepInput(0, 0, Prompt)]);
        var b = bf16.Step([new StepInput(0, 0, Prompt)]);
        var scale = MaxAbs(a);
        Assert.True(MaxAbsDiff(a, b) < 0.05 * scale + 0.02, $"bf16 prefill diff {MaxAbsDiff(a, b)} vs scale {scale}");
        var next = ArgMax(a); // both decode the same token: the comparison is of arithmetic, not of choices
        a = fp32.Step([new StepInput(0, Prompt.Length, new[] { next })]);
        b = bf16.Step([new StepInput(0, Prompt.Length, new[] { next })]);
        Assert.True(MaxAbsDiff(a, b) < 0.05 * MaxAbs(a) + 0.02, $"bf16 decode diff {MaxAbsDiff(a, b)} vs scale {MaxAbs(a)}");
    }

    [Fact]
    public void BatchedDecodeOfThreeSlotsEqualsEachSlotAlone()
    {
        int[][] prompts = [Prompt[..4], Prompt[2..9], Prompt[5..7]];
        int[] slots = [3, 0, 2]; // not consecutive: exercises the gathered cache and its padding mask
        var options = new EagerRunnerOptions { Slots = 4, MaxSequenceLength = 64 };

        // Alone: each sequence prefilled and decoded 4 steps on its own.
        var alone = new List<float[]>[3];
        using (var runner = EagerModelRunner.Open(TinyLlama, options))
        {
            for (var s = 0; s < 3; s++)
            {
                alone[s] = [];
                var row = runner.Step([new StepInput(slots[s], 0, prompts[s])]);
                for (var step = 0; step < 4; step++)
                {
                    var next = (ArgMax(row) + step) % runner.VocabSize;
                    row = runner.Step([new StepInput(slots[s], prompts[s].Length + step, new[] { next })]);
                    alone[s].Add(row);
                }
            }
        }

        using (var runner = EagerModelRunner.Open(TinyLlama, options))
        {
            // One mixed step: all three prompts prefilled together, then batched decode steps.
            var rows = runner.Step(Enumerable.Range(0, 3).Select(s => new StepInput(slots[s], 0, prompts[s])).ToList());
            for (var step = 0; step < 4; step++)
            {
                var inputs = new List<StepInput>();
                for (var s = 0; s < 3; s++)
                {
                    var previous = rows.AsSpan(s * runner.VocabSize, runner.VocabSize);
                    var next = (ArgMax(previous) + step) % runner.VocabSize;
                    inputs.Add(new StepInput(slots[s], prompts[s].Length + step, new[] { next }));
                }
                rows = runner.Step(inputs);
                for (var s = 0; s < 3; s++)
                {
                    var diff = MaxAbsDiff(rows.AsSpan(s * runner.VocabSize, runner.VocabSize), alone[s][step]);
                    Assert.True(diff < 1e-4, $"step {step} sequence {s}: diff {diff}");
                }
            }
            // Consecutive slots (a cache view instead of a gather) mixed with a prefill in the same step.
            var mixed = runner.Step([
                new StepInput(2, prompts[2].Length + 4, new[] { 5 }),
                new StepInput(1, 0, Prompt[..6]),
                new StepInput(3, prompts[0].Length + 4, new[] { 9 }),
            ]);
            Assert.Equal(3 * runner.VocabSize, mixed.Length);
            Assert.All(mixed, v => Assert.True(float.IsFinite(v)));
            using var fresh = EagerModelRunner.Open(TinyLlama, options);
            var prefillAlone = fresh.Step([new StepInput(1, 0, Prompt[..6])]);
            var mixedDiff = MaxAbsDiff(mixed.AsSpan(runner.VocabSize, runner.VocabSize), prefillAlone);
            Assert.True(mixedDiff < 1e-4, $"prefill inside a mixed step: diff {mixedDiff}");
        }
    }

    [Fact]
    public void ManagedDecodeKernelMatchesLibTorch()
    {
        using var fast = EagerModelRunner.Open(TinyLlama, new EagerRunnerOptions { Slots = 1, MaxSequenceLength = 64 });
        using var slow = EagerModelRunner.Open(TinyLlama, new EagerRunnerOptions { Slots = 1, MaxSequenceLength = 64, ManagedDecodeKernel = false });
        var a = Greedy(fast, Prompt[..3], 12);
        var b = Greedy(slow, Prompt[..3], 12);
        Assert.Equal(b.Tokens, a.Tokens);
        for (var i = 0; i < a.Logits.Count; i++)
            Assert.True(MaxAbsDiff(a.Logits[i], b.Logits[i]) < 1e-4);
    }

    [Fact]
    public void Bfloat16PathRunsAndTracksFloat32()
    {
        using var fp32 = EagerModelRunner.Open(TinyLlama, new EagerRunnerOptions { Slots = 1, MaxSequenceLength = 64 });
        using var bf16 = EagerModelRunner.Open(TinyLlama, new EagerRunnerOptions { Slots = 1, MaxSequenceLength = 64, Dtype = "bfloat16" });
        Assert.Equal("bfloat16", bf16.Info.Dtype);
        Assert.Equal("float32", bf16.Info.ActivationDtype);
        // Matrices in bfloat16; the norms (9 x 128, tiny) in float32 like the activations.
        var normElements = (2 * 4 + 1) * 128;
        Assert.Equal((fp32.Info.WeightBytes - normElements * 4) / 2 + normElements * 4, bf16.Info.WeightBytes);
        var a = fp32.Step([new StepInput(0, 0, Prompt)]);
        var b = bf16.Step([new StepInput(0, 0, Prompt)]);
        Assert.All(b, v => Assert.True(float.IsFinite(v)));
        var scale = MaxAbs(a);
        Assert.True(MaxAbsDiff(a, b) < 0.05 * scale + 0.02, $"bf16 diff {MaxAbsDiff(a, b)} vs scale {scale}");
        var next = bf16.Step([new StepInput(0, Prompt.Length, new[] { ArgMax(b) })]);
        Assert.All(next, v => Assert.True(float.IsFinite(v)));
    }

    [Fact]
    public void ShardedCheckpointLoadsAndMatchesSingleFile()
    {
        using var temp = new TempDirectory("bento-model-tests-");
        var spec = new RandomModelSpec { HiddenSize = 64, IntermediateSize = 128, Layers = 2, Heads = 4, KeyValueHeads = 2, MaxPositionEmbeddings = 128 };
        var single = Path.Combine(temp.Path, "single");
        var sharded = Path.Combine(temp.Path, "sharded");
        ModelFolderGenerator.GenerateAsync(single, ModelPresets.Random(spec)).GetAwaiter().GetResult();
        ModelFolderGenerator.GenerateAsync(sharded, ModelPresets.Random(spec with { Shards = 3 })).GetAwaiter().GetResult();
        Assert.True(File.Exists(Path.Combine(sharded, SafetensorsCheckpoint.IndexFileName)));

        using (var checkpoint = SafetensorsCheckpoint.Open(sharded))
            Assert.Equal(3, checkpoint.Files.Count);
        using var a = EagerModelRunner.Open(single, new EagerRunnerOptions { Slots = 1, MaxSequenceLength = 32 });
        using var b = EagerModelRunner.Open(sharded, new EagerRunnerOptions { Slots = 1, MaxSequenceLength = 32 });
        var la = a.Step([new StepInput(0, 0, Prompt[..6])]);
        var lb = b.Step([new StepInput(0, 0, Prompt[..6])]);
        Assert.True(MaxAbsDiff(la, lb) < 1e-5, $"diff {MaxAbsDiff(la, lb)}"); // shard offsets change the kernel's alignment peel
    }

    [Fact]
    public void MappedWeightsAreViewsOfTheFileNotCopies()
    {
        var config = ModelConfig.Load(TinyLlama);
        using var checkpoint = SafetensorsCheckpoint.Open(TinyLlama);
        using var model = LlamaForCausalLM.FromCheckpoint(config, checkpoint, ScalarType.Float32);
        var parameters = model.named_parameters().ToList();
        Assert.Equal(LlamaForCausalLM.WeightNames(config).Order(), parameters.Select(p => p.name).Order());
        foreach (var (name, p) in parameters)
            Assert.True(checkpoint.IsMapped(p), $"{name} is not inside the file mapping");
        Assert.Equal(0, checkpoint.CopiedTensors);

        // A converted dtype is a copy, outside the mapping.
        using var bf16 = LlamaForCausalLM.FromCheckpoint(config, checkpoint, ScalarType.BFloat16);
        Assert.False(checkpoint.IsMapped(bf16.model.norm.weight));
    }

    /// <summary>The weight mapping is advised for huge pages (smaps' VmFlags "hg"), so decode does not pay a TLB miss
    /// per 4 KiB of weights where the kernel and the filesystem can map the page cache with 2 MiB entries.</summary>
    [Fact]
    public unsafe void TheWeightMappingIsAdvisedForHugePages()
    {
        var config = ModelConfig.Load(TinyLlama);
        using var checkpoint = SafetensorsCheckpoint.Open(TinyLlama);
        using var model = LlamaForCausalLM.FromCheckpoint(config, checkpoint, ScalarType.Float32);
        var address = (ulong)(nint)TensorData.Pointer(model.model.embed_tokens.weight);
        string? flags = null;
        var inRegion = false;
        foreach (var line in File.ReadLines("/proc/self/smaps"))
        {
            var dash = line.IndexOf('-');
            if (dash > 0 && line.IndexOf(' ') > dash && ulong.TryParse(line[..dash], System.Globalization.NumberStyles.HexNumber, null, out var start))
            {
                var end = ulong.Parse(line[(dash + 1)..line.IndexOf(' ')], System.Globalization.NumberStyles.HexNumber);
                inRegion = address >= start && address < end;
                if (inRegion) Assert.Contains("tiny-llama", line); // the file's own mapping, not a copy
            }
            else if (inRegion && line.StartsWith("VmFlags:", StringComparison.Ordinal)) flags = line;
        }
        Assert.NotNull(flags);
        Assert.Contains(" hg", flags);
    }

    [Fact]
    public void CopiedWeightsLeaveTheMappingAndGiveTheSameLogits()
    {
        var config = ModelConfig.Load(TinyLlama);
        using var checkpoint = SafetensorsCheckpoint.Open(TinyLlama);
        using var copied = LlamaForCausalLM.FromCheckpoint(config, checkpoint, ScalarType.Float32, copy: true);
        Assert.All(copied.parameters(), p => Assert.False(checkpoint.IsMapped(p)));
        using var a = EagerModelRunner.Open(TinyLlama, new EagerRunnerOptions { Slots = 1, MaxSequenceLength = 32 });
        using var b = EagerModelRunner.Open(TinyLlama, new EagerRunnerOptions { Slots = 1, MaxSequenceLength = 32, CopyWeights = true });
        // Not bit-identical: the decode kernel's summation order follows the weights' address alignment.
        var diff = MaxAbsDiff(a.Step([new StepInput(0, 0, Prompt)]), b.Step([new StepInput(0, 0, Prompt)]));
        Assert.True(diff < 1e-5, $"diff {diff}");
    }

    [Fact]
    public void MappingALargeCheckpointDoesNotReadIt()
    {
        using var temp = new TempDirectory("bento-model-tests-");
        var spec = new RandomModelSpec { HiddenSize = 512, IntermediateSize = 2048, Layers = 8, Heads = 8, KeyValueHeads = 4, MaxPositionEmbeddings = 128 };
        var dir = Path.Combine(temp.Path, "m");
        var generated = ModelFolderGenerator.GenerateAsync(dir, ModelPresets.Random(spec)).GetAwaiter().GetResult();
        Assert.True(generated.WeightBytes > 100_000_000);
        // Drop the freshly written file from the page cache where we can, so RSS reflects touched pages only.
        var before = Rss();
        var config = ModelConfig.Load(dir);
        using var checkpoint = SafetensorsCheckpoint.Open(dir);
        using var model = LlamaForCausalLM.FromCheckpoint(config, checkpoint, ScalarType.Float32);
        var after = Rss();
        Assert.True(after - before < generated.WeightBytes / 4, $"RSS grew by {(after - before) >> 20} MiB for {generated.WeightBytes >> 20} MiB of weights");
    }

    private static long Rss()
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith("VmRSS:"))
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
        return 0;
    }

    [Fact]
    public void TiedEmbeddingsUseTheEmbeddingAsHead()
    {
        using var temp = new TempDirectory("bento-model-tests-");
        var dir = Path.Combine(temp.Path, "tied");
        ModelFolderGenerator.GenerateAsync(dir, ModelPresets.Random(new RandomModelSpec
        { HiddenSize = 64, IntermediateSize = 128, Layers = 1, Heads = 4, KeyValueHeads = 1, TiedEmbeddings = true, MaxPositionEmbeddings = 64 }))
            .GetAwaiter().GetResult();
        using var runner = EagerModelRunner.Open(dir, new EagerRunnerOptions { Slots = 1, MaxSequenceLength = 16 });
        Assert.Null(runner.Model.lm_head);
        Assert.Same(runner.Model.model.embed_tokens.weight, runner.Model.HeadWeight);
        var logits = runner.Step([new StepInput(0, 0, Prompt[..4])]);
        Assert.Equal(runner.VocabSize, logits.Length);
    }

    [Fact]
    public void ModelTrainsWithAutograd()
    {
        var config = ModelConfig.Load(TinyLlama) with { NumHiddenLayers = 1 };
        using var model = LlamaForCausalLM.CreateRandom(config, seed: 1);
        Assert.All(model.parameters(), p => Assert.True(p.requires_grad));
        using var optimizer = optim.AdamW(model.parameters(), lr: 1e-2);
        var tokens = tensor(Prompt.Select(t => (long)t).ToArray(), [1, Prompt.Length]);
        float first = 0, last = 0;
        for (var step = 0; step < 20; step++)
        {
            using var scope = NewDisposeScope();
            optimizer.zero_grad();
            var logits = model.forward(tokens.narrow(1, 0, Prompt.Length - 1));
            var loss = nn.functional.cross_entropy(logits.reshape(-1, config.VocabSize), tokens.narrow(1, 1, Prompt.Length - 1).reshape(-1));
            loss.backward();
            optimizer.step();
            if (step == 0) first = loss.item<float>();
            last = loss.item<float>();
        }
        Assert.True(last < first * 0.5, $"loss {first} -> {last}");
    }

    [Fact]
    public void RunnerInfoDescribesTheEagerCpuRunner()
    {
        using var runner = EagerModelRunner.Open(TinyLlama, new EagerRunnerOptions { Slots = 2, MaxSequenceLength = 32 });
        Assert.Equal("cpu", runner.Info.Device);
        Assert.Equal("float32", runner.Info.Dtype);
        Assert.False(runner.Info.CudaGraphs);
        Assert.Equal(918_656L * 4, runner.Info.WeightBytes);
        // k+v, layers, (2 slots x 2 blocks of 16 + the scratch block), kv heads, block size, hd, fp32
        Assert.Equal(2L * 4 * (2 * 2 + 1) * 2 * 16 * 32 * 4, runner.Info.KvCacheBytes);
        Assert.Equal(4, runner.Info.KvBlocks);
        Assert.Throws<ArgumentOutOfRangeException>(() => runner.Step([new StepInput(0, 30, new[] { 1, 2, 3 })]));
        Assert.Throws<ArgumentOutOfRangeException>(() => runner.Step([new StepInput(5, 0, new[] { 1 })]));
    }
}
