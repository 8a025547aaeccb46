using Bento.Runtime.Engine;
using Bento.Runtime.Model;
using Bento.Runtime.Tokenization;
using static Bento.Runtime.Tests.Model.ModelTestSupport;
using static TorchSharp.torch;

namespace Bento.Runtime.Tests.Model;

/// <summary>
/// The paged KV cache on the real model: block tables in any order, shared prefix blocks, bucket-padded decode
/// inputs and the sliding-window seam give the logits of the plain computation, on the managed float32 path and on
/// LibTorch's (gathered blocks, SDPA).
/// </summary>
public sealed class PagedKvCacheTests
{
    private static readonly int[] Prompt = [507, 300, 17, 45, 200, 3, 99, 150, 42, 7, 311, 64, 18, 400, 222, 9, 71, 33, 5];

    private static EagerModelRunner Runner(bool managed = true, int blocks = 24) =>
        EagerModelRunner.Open(TinyLlama, new EagerRunnerOptions { Slots = 2, MaxSequenceLength = 64, KvBlocks = blocks, ManagedDecodeKernel = managed });

    /// <summary>Prefill then greedy decode through one block table; the logits of every step.</summary>
    private static List<float[]> Run(EagerModelRunner runner, int[] table, int[] prompt, int steps)
    {
        var rows = new List<float[]> { runner.Step([StepInput.Paged(table, 0, prompt)]) };
        for (var i = 0; i < steps; i++)
            rows.Add(runner.Step([StepInput.Paged(table, prompt.Length + i, new[] { ArgMax(rows[^1]) })]));
        return rows;
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Scattered_block_tables_give_the_logits_of_contiguous_ones(bool managed)
    {
        using var runner = Runner(managed);
        var contiguous = Run(runner, [0, 1, 2], Prompt, 20);             // 39 tokens: 3 blocks
        var scattered = Run(runner, [17, 4, 11], Prompt, 20);
        for (var i = 0; i < contiguous.Count; i++)
            Assert.True(MaxAbsDiff(contiguous[i], scattered[i]) < 1e-5, $"step {i}: {MaxAbsDiff(contiguous[i], scattered[i])}");
        // And the same as the slot addressing the benchmarks use.
        var slot = Greedy(runner, Prompt, 20);
        for (var i = 0; i < slot.Logits.Count; i++)
            Assert.True(MaxAbsDiff(slot.Logits[i], contiguous[i]) < 1e-5);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void A_sequence_reading_a_shared_prefix_block_gets_the_logits_of_computing_it(bool managed)
    {
        using var runner = Runner(managed);
        int[] a = [.. Prompt[..16], 1, 2, 3, 4, 5];
        int[] b = [.. Prompt[..16], 90, 91, 92, 93, 94, 95, 96, 97];
        runner.Step([StepInput.Paged(new[] { 3, 4 }, 0, a)]);           // A writes block 3 (its first 16 tokens)

        // B shares block 3 and computes only its own tokens, from position 16, beside a decode of A.
        var shared = runner.Step([
            StepInput.Paged(new[] { 3, 4 }, a.Length, new[] { 6 }),
            StepInput.Paged(new[] { 3, 8 }, 16, b[16..]),
        ]);
        using var fresh = Runner(managed);
        var alone = fresh.Step([StepInput.Paged(new[] { 0, 1 }, 0, b)]);
        var diff = MaxAbsDiff(shared.AsSpan(runner.VocabSize, runner.VocabSize), alone);
        Assert.True(diff < 1e-4, $"shared prefix: diff {diff}");
        var nextShared = runner.Step([StepInput.Paged(new[] { 3, 8 }, b.Length, new[] { ArgMax(alone) })]);
        var nextAlone = fresh.Step([StepInput.Paged(new[] { 0, 1 }, b.Length, new[] { ArgMax(alone) })]);
        Assert.True(MaxAbsDiff(nextShared, nextAlone) < 1e-4);
    }

    [Fact]
    public void The_runner_refuses_tables_that_are_too_short_blocks_out_of_range_and_double_writes()
    {
        using var runner = Runner(blocks: 4);
        Assert.Throws<ArgumentException>(() => runner.Step([StepInput.Paged(new[] { 0 }, 10, new[] { 1, 2, 3, 4, 5, 6, 7 })]));
        Assert.Throws<ArgumentOutOfRangeException>(() => runner.Step([StepInput.Paged(new[] { 4 }, 0, new[] { 1 })]));
        Assert.Contains("written by another input", Assert.Throws<ArgumentException>(() =>
            runner.Step([StepInput.Paged(new[] { 2 }, 0, new[] { 1, 2 }), StepInput.Paged(new[] { 2 }, 1, new[] { 3 })])).Message);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Decode_rows_padded_to_a_bucket_leave_the_real_rows_logits_unchanged(bool managed)
    {
        using var plain = Runner(managed);
        using var padded = Runner(managed);
        int[][] tables = [[5, 6], [0, 1, 2], [9]];
        int[][] prompts = [Prompt[..17], Prompt, Prompt[3..10]];
        var prefill = Enumerable.Range(0, 3).Select(i => StepInput.Paged(tables[i], 0, prompts[i])).ToList();
        var rows = plain.Step(prefill);
        padded.Step(prefill);
        for (var step = 0; step < 3; step++)
        {
            var decode = Enumerable.Range(0, 3).Select(i => StepInput.Paged(tables[i], prompts[i].Length + step,
                new[] { ArgMax(rows.AsSpan(i * plain.VocabSize, plain.VocabSize)) })).ToList();
            var expected = plain.Step(decode);
            var got = padded.StepPadded(decode, padded.DecodeShapeFor(8));
            Assert.True(MaxAbsDiff(expected, got) < 1e-5, $"step {step}: {MaxAbsDiff(expected, got)}");
            rows = expected;
        }
    }

    [Fact]
    public void A_bucket_fixes_every_decode_input_shape_whatever_the_sequences()
    {
        var shape = new DecodeShape(DecodeBucket: 8, BlockColumns: 4, ScratchBlock: 30);
        using var small = new StepBatch([(0, [1, 2], 20, new[] { 5 }), (1, [7], 3, new[] { 9 }), (2, [3, 4, 6], 40, new[] { 1 })], 3, shape: shape);
        using var large = new StepBatch(Enumerable.Range(0, 5).Select(i => (i, new[] { 10 + i, 20 + i, 25 + i, 29 }, 50 + i, (ReadOnlyMemory<int>)new[] { i })).ToList(), 3, shape: shape);
        foreach (var batch in new[] { small, large })
        {
            Assert.Equal([8L], batch.Tokens.shape);
            Assert.Equal([8L], batch.Positions.shape);
            Assert.Equal(8, batch.SlotMapping.Length);
            Assert.Equal([8L, 4L], batch.DecodeBlockTable!.shape);
            Assert.Equal([8L, 1L, 1L, 64L], batch.DecodeMask(0).shape);
        }
        // Padded rows write the scratch block and read only it.
        Assert.All(small.SlotMapping.Skip(3), s => Assert.Equal(30L * KvCache.BlockSize, s));
        Assert.Equal([3, 4, 6, 30], small.DecodeBlockTable!.data<long>().Skip(2 * 4).Take(4).Select(x => (int)x));
        Assert.Throws<ArgumentException>(() => new StepBatch(Enumerable.Range(0, 9).Select(i => (i, new[] { i }, 0, (ReadOnlyMemory<int>)new[] { 1 })).ToList(), 3, shape: shape));
    }

    /// <summary>
    /// The per-layer attention (LayerAttention): the managed decode attention and LibTorch's masked attention over
    /// gathered blocks both attend to exactly keys [position - window + 1, position] with the layer's scale and
    /// soft-cap, checked against a plain loop.
    /// </summary>
    /// <remarks>Head dims: 8 (one vector), 44 (a 32-column register pass, a vector and a scalar tail), 64 (two passes).</remarks>
    [Theory]
    [InlineData(0, 0.0, 8)]
    [InlineData(5, 0.0, 8)]
    [InlineData(16, 0.0, 8)]
    [InlineData(0, 1.5, 8)]
    [InlineData(7, 2.0, 8)]
    [InlineData(0, 0.0, 44)]
    [InlineData(16, 1.5, 64)]
    public void Decode_attention_over_blocks_matches_a_plain_loop_with_windows_scales_and_soft_caps(int window, double softcap, int hd)
    {
        const int heads = 6, kvHeads = 2, blocks = 6;
        var config = new ModelConfig { NumHiddenLayers = 1, NumAttentionHeads = heads, NumKeyValueHeads = kvHeads, HeadDim = hd, HiddenSize = heads * hd };
        using var cache = new KvCache(config, blocks, ScalarType.Float32);
        using var gathered = new KvCache(config, blocks, ScalarType.Float32, managedKernels: false);
        var rng = new Random(5);
        var keys = new float[cache.Keys(0).NumberOfElements];
        var values = new float[keys.Length];
        for (var i = 0; i < keys.Length; i++) { keys[i] = (float)rng.NextDouble() - 0.5f; values[i] = (float)rng.NextDouble() - 0.5f; }
        foreach (var c in new[] { cache, gathered })
        {
            using var k = tensor(keys, cache.Keys(0).shape);
            using var v = tensor(values, cache.Keys(0).shape);
            c.Keys(0).copy_(k);
            c.Values(0).copy_(v);
        }

        int[][] tables = [[4, 1, 3], [2], [0, 5]];
        long[] positions = [37, 9, 20];
        var columns = (heads + 2 * kvHeads) * hd;
        var q = new float[3 * columns];
        for (var i = 0; i < q.Length; i++) q[i] = (float)rng.NextDouble() - 0.5f;
        using var qkv = tensor(q, [3, columns]);
        var spec = new LayerAttention(window == 0 ? null : window, Scale: 0.3, LogitSoftcap: softcap == 0 ? null : softcap, LocalRope: false);
        using var managed = PagedAttention.DecodeAttention(qkv, 3, heads, kvHeads, hd, tables, positions, cache.Keys(0), cache.Values(0), spec, threads: 2);

        using var batch = new StepBatch(Enumerable.Range(0, 3).Select(d => (d, tables[d], (int)positions[d], (ReadOnlyMemory<int>)new[] { 1 })).ToList(), heads / kvHeads);
        using var gk = gathered.GatherDecode(0, batch, isValue: false);
        using var gv = gathered.GatherDecode(0, batch, isValue: true);
        using var qd = qkv.narrow(1, 0, heads * hd).reshape(3, kvHeads, heads / kvHeads, hd);
        using var sdpa = LlamaForCausalLM.ScaledDotProductAttention(qd, gk, gv, batch.DecodeMask(spec.Window), spec, hd).reshape(3, heads * hd);

        var m = managed.data<float>().ToArray();
        var s = sdpa.data<float>().ToArray();
        for (var d = 0; d < 3; d++)
            for (var h = 0; h < heads; h++)
            {
                var kvHead = h / (heads / kvHeads);
                var (first, last) = StepBatch.KeyRange((int)positions[d], spec.Window);
                var scores = new double[last - first + 1];
                for (var t = first; t <= last; t++)
                {
                    var at = ((tables[d][t / 16] * kvHeads + kvHead) * 16 + t % 16) * hd;
                    double dot = 0;
                    for (var i = 0; i < hd; i++) dot += q[d * columns + h * hd + i] * keys[at + i];
                    scores[t - first] = softcap == 0 ? dot * 0.3 : softcap * Math.Tanh(dot * 0.3 / softcap);
                }
                var max = scores.Max();
                var weights = scores.Select(x => Math.Exp(x - max)).ToArray();
                var sum = weights.Sum();
                for (var i = 0; i < hd; i++)
                {
                    double o = 0;
                    for (var t = first; t <= last; t++)
                        o += weights[t - first] / sum * values[((tables[d][t / 16] * kvHeads + kvHead) * 16 + t % 16) * hd + i];
                    Assert.True(Math.Abs(m[d * heads * hd + h * hd + i] - o) < 1e-5, $"managed row {d} head {h}: {m[d * heads * hd + h * hd + i]} vs {o}");
                    Assert.True(Math.Abs(s[d * heads * hd + h * hd + i] - o) < 1e-5, $"sdpa row {d} head {h}: {s[d * heads * hd + h * hd + i]} vs {o}");
                }
            }
    }

    /// <summary>A step big enough to split over threads (8 rows x ~300 keys: MiBs of K and V) gives exactly the
    /// single-threaded result: each (row, kv head) is computed the same way on whichever thread takes it.</summary>
    [Fact]
    public void Decode_attention_split_over_threads_equals_one_thread()
    {
        const int heads = 12, kvHeads = 4, hd = 64, blocks = 160, rows = 8;
        var config = new ModelConfig { NumHiddenLayers = 1, NumAttentionHeads = heads, NumKeyValueHeads = kvHeads, HeadDim = hd, HiddenSize = heads * hd };
        using var cache = new KvCache(config, blocks, ScalarType.Float32);
        var rng = new Random(9);
        var data = new float[cache.Keys(0).NumberOfElements];
        for (var i = 0; i < data.Length; i++) data[i] = (float)rng.NextDouble() - 0.5f;
        using (var k = tensor(data, cache.Keys(0).shape)) cache.Keys(0).copy_(k);
        using (var v = tensor(data.Reverse().ToArray(), cache.Keys(0).shape)) cache.Values(0).copy_(v);
        var tables = Enumerable.Range(0, rows).Select(d => Enumerable.Range(0, 20).Select(b => (d * 20 + b * 7) % blocks).ToArray()).ToList();
        var positions = Enumerable.Range(0, rows).Select(d => 250L + 9 * d).ToArray();
        var columns = (heads + 2 * kvHeads) * hd;
        using var qkv = tensor(Enumerable.Range(0, rows * columns).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray(), [rows, columns]);
        var spec = new LayerAttention(null, 1 / Math.Sqrt(hd), null, false);
        using var one = PagedAttention.DecodeAttention(qkv, rows, heads, kvHeads, hd, tables, positions, cache.Keys(0), cache.Values(0), spec, threads: 1);
        using var two = PagedAttention.DecodeAttention(qkv, rows, heads, kvHeads, hd, tables, positions, cache.Keys(0), cache.Values(0), spec, threads: 2);
        Assert.Equal(one.data<float>().ToArray(), two.data<float>().ToArray());
    }

    [Fact]
    public void A_prefill_mask_with_a_window_sees_only_the_window()
    {
        using var mask = StepBatch.PrefillMask(position: 10, length: 3, groups: 2, window: 4);
        Assert.Equal([6L, 13L], mask.shape);
        var rows = mask.data<bool>().ToArray();
        for (var g = 0; g < 2; g++)
            for (var t = 0; t < 3; t++)
                for (var k = 0; k < 13; k++)
                    Assert.Equal(k <= 10 + t && k > 10 + t - 4, rows[(g * 3 + t) * 13 + k]);
    }

    /// <summary>Recompute preemption on the real model: the engine under a KV cache too small for its sequences gives
    /// the greedy tokens of a roomy one.</summary>
    [Fact]
    public async Task Preemption_and_recompute_give_the_same_greedy_tokens_as_a_roomy_cache()
    {
        var tokenizer = HfTokenizer.Load(TinyLlama);
        int[][] prompts = [Prompt, Prompt[2..15], Prompt[5..], [.. Prompt[..9], 44, 45, 46]];
        async Task<(List<int>[] Tokens, long Preemptions)> Generate(int blocks)
        {
            using var runner = EagerModelRunner.Open(TinyLlama, new EagerRunnerOptions { Slots = 0, KvBlocks = blocks, MaxSequenceLength = 64 });
            using var engine = new LlmEngine(runner, tokenizer, new EngineOptions { MaxNumSeqs = 4, MaxModelLen = 64 });
            var readers = prompts.Select((p, i) => engine.Submit(new GenerationRequest($"r{i}", p,
                new SamplingParams { MaxTokens = 36, Temperature = 0, IgnoreEos = true }), CancellationToken.None)).ToList();
            var tokens = new List<int>[prompts.Length];
            for (var i = 0; i < readers.Count; i++)
            {
                tokens[i] = [];
                await foreach (var e in readers[i].ReadAllAsync()) if (e is TokenGenerated t) tokens[i].Add(t.TokenId);
            }
            return (tokens, engine.Stats.Preemptions);
        }
        var roomy = await Generate(32);
        var tight = await Generate(7);                                 // 4 sequences of ~50 tokens need 16 blocks
        Assert.Equal(0, roomy.Preemptions);
        Assert.True(tight.Preemptions > 0);
        for (var i = 0; i < prompts.Length; i++) Assert.Equal(roomy.Tokens[i], tight.Tokens[i]);
    }
}
