using Bento.Core.Model;
using Bento.Core.Serving;

namespace Bento.Core.Tests;

/// <summary>The memory planner is pure: these feed it device numbers and check its arithmetic and its decisions.</summary>
public class MemoryPlannerTests
{
    /// <summary>Llama-3.2-1B's published shape.</summary>
    private static readonly ModelConfig Llama32_1B = new()
    {
        VocabSize = 128256, HiddenSize = 2048, IntermediateSize = 8192, NumHiddenLayers = 16,
        NumAttentionHeads = 32, NumKeyValueHeads = 8, HeadDim = 64, MaxPositionEmbeddings = 131072, TieWordEmbeddings = true,
    };

    private const long Params1B = 1_235_814_400;

    private static PlanRequest Request(DeviceMemory device, int maxModelLen = 2048, int maxNumSeqs = 16, long? kv = null, bool eager = false, EagerMode? mode = null) => new()
    {
        Model = Llama32_1B, Parameters = Params1B, Dtype = ModelDtype.BFloat16, MaxModelLen = maxModelLen, MaxNumSeqs = maxNumSeqs,
        Device = device, KvCacheMemory = kv, EnforceEager = mode ?? EagerModes.FromBool(eager),
    };

    private static DeviceMemory Cpu(long gib) => new("cpu", "test", gib << 30, gib << 30);

    [Fact]
    public void Kv_bytes_per_token_are_layers_times_kv_heads_times_head_dim_for_keys_and_values()
    {
        Assert.Equal(2L * 16 * 8 * 64 * 2, MemoryPlanner.KvBytesPerToken(Llama32_1B, ModelDtype.BFloat16));
        Assert.Equal(2L * 16 * 8 * 64 * 4, MemoryPlanner.KvBytesPerToken(Llama32_1B, ModelDtype.Float32));
    }

    [Fact]
    public void A_roomy_cpu_takes_no_more_blocks_than_max_num_seqs_full_sequences_need()
    {
        var plan = MemoryPlanner.Plan(Request(Cpu(24)));
        Assert.True(plan.Fits);
        Assert.Equal(Params1B * 2, plan.WeightBytes);
        Assert.Equal((long)(((24L << 30) - plan.WeightBytes - plan.ActivationBytes) * 0.5), plan.KvBudgetBytes);
        // The budget would hold more, but a CPU's RAM is shared: the cache stops at 16 x 2048 tokens.
        Assert.True(plan.KvBudgetBytes / (16 * plan.KvBytesPerToken) > plan.KvBlocks);
        Assert.Equal(16 * 2048 / 16, plan.KvBlocks);
        Assert.Equal(plan.KvBlocks * 16L, plan.KvTokens);
        Assert.Equal(16, plan.Sequences);
        Assert.Equal((16L * 2048 + 16) * plan.KvBytesPerToken, plan.KvCacheBytes); // and the scratch block
        Assert.Empty(plan.GraphCaptures);
        Assert.False(plan.CudaGraphs);
        Assert.Empty(plan.Notes);
        Assert.Contains("2048 blocks of 16 tokens = 32768 tokens", plan.Describe());
    }

    [Fact]
    public void An_explicit_kv_cache_memory_is_cut_into_blocks_whole()
    {
        var bytesPerToken = MemoryPlanner.KvBytesPerToken(Llama32_1B, ModelDtype.Float32); // a CPU's KV cache is float32
        // 101 blocks' worth: 100 usable and the scratch block padding rows write.
        var plan = MemoryPlanner.Plan(Request(Cpu(24), maxModelLen: 512, maxNumSeqs: 2, kv: 101 * 16 * bytesPerToken + 5));
        Assert.Equal(100, plan.KvBlocks);                             // beyond 2 x 512 tokens: more prefixes stay cached
        Assert.Equal(1600, plan.KvTokens);
        Assert.Equal(101 * 16 * bytesPerToken, plan.KvCacheBytes);
    }

    [Fact]
    public void Short_memory_serves_fewer_sequences_and_says_so()
    {
        // On a CPU the KV cache is float32 whatever the weights' dtype (ModelDtype.Activation).
        var kv = (5L * 2048 + 16) * MemoryPlanner.KvBytesPerToken(Llama32_1B, ModelDtype.Float32) + 1000; // and the scratch block
        var plan = MemoryPlanner.Plan(Request(Cpu(24), kv: kv));
        Assert.True(plan.Fits);
        Assert.Equal(5, plan.Sequences);
        Assert.Equal(16, plan.MaxNumSeqs);
        Assert.Equal("kv_cache_memory", plan.Source);
        var note = Assert.Single(plan.Notes);
        Assert.Contains("holds 5 sequences of max_model_len 2048 at once, fewer than max_num_seqs 16", note);
        Assert.Contains("up to 16 run together while their real lengths fit", note);
    }

    [Fact]
    public void Less_than_one_sequence_is_a_problem_that_says_what_max_model_len_would_fit()
    {
        var plan = MemoryPlanner.Plan(Request(Cpu(24), maxModelLen: 4096, kv: 1000L * MemoryPlanner.KvBytesPerToken(Llama32_1B, ModelDtype.Float32)));
        Assert.False(plan.Fits);
        Assert.Equal(0, plan.Sequences);
        Assert.Contains("set max_model_len to at most 976", plan.Problem);   // 62 blocks of 16, one of them the scratch block
        Assert.Contains("does not fit", plan.Describe());
    }

    [Fact]
    public void A_cpu_keeps_bfloat16_weights_but_a_float32_kv_cache_and_int8_weights_take_a_byte_each()
    {
        var plan = MemoryPlanner.Plan(Request(Cpu(24)));
        Assert.Equal(Params1B * 2, plan.WeightBytes);
        Assert.Equal(MemoryPlanner.KvBytesPerToken(Llama32_1B, ModelDtype.Float32), plan.KvBytesPerToken);

        var int8 = Llama32_1B with { Quantization = QuantizationScheme.Int8.ToConfig() };
        var quantized = MemoryPlanner.Plan(Request(Cpu(24)) with { Model = int8 });
        // Every matrix (the tied embedding included) is one byte per weight plus a float32 scale per row; the norms
        // stay in the dtype.
        long norms = 16 * 2 * 2048 + 2048, rows = 16 * (2048 + 512 + 512 + 2048 + 8192 + 8192 + 2048) + 128256;
        Assert.Equal(Params1B - norms + 4 * rows + 2 * norms, quantized.WeightBytes);
        Assert.True(quantized.WeightBytes < 0.26 * Params1B * 4, "int8 weights are about a quarter of float32");
    }

    [Fact]
    public void Weights_larger_than_memory_leave_no_kv_cache()
    {
        var plan = MemoryPlanner.Plan(Request(new DeviceMemory("cpu", "small", 2L << 30, 2L << 30)));
        Assert.False(plan.Fits);
        Assert.Contains("leave no memory for the KV cache", plan.Problem);
    }

    [Fact]
    public void A_gpu_budget_is_utilization_minus_context_weights_activations_and_the_graph_pool()
    {
        var h100 = new DeviceMemory("cuda", "h100-80gb", 80L << 30, 80L << 30);
        var plan = MemoryPlanner.Plan(Request(h100, maxNumSeqs: 256));
        // vLLM's default capture sizes for max_num_seqs 256: 1, 2, 4, 8..256 (35 shapes), captured largest first.
        Assert.Equal(35, plan.GraphCaptures.Count);
        Assert.Equal(256, plan.GraphCaptures[0].BatchSize);
        Assert.Equal(1, plan.GraphCaptures[^1].BatchSize);
        Assert.True(plan.GraphCaptures.Zip(plan.GraphCaptures.Skip(1)).All(p => p.First.PoolBytes < p.Second.PoolBytes));
        var usable = (long)((80L << 30) * 0.9);
        Assert.Equal(usable - MemoryPlanner.CudaContextBytes - plan.WeightBytes - plan.ActivationBytes - plan.GraphPoolBytes, plan.KvBudgetBytes);

        var eager = MemoryPlanner.Plan(Request(h100, maxNumSeqs: 256, eager: true));
        Assert.Empty(eager.GraphCaptures);
        Assert.Equal(plan.KvBudgetBytes + plan.GraphPoolBytes, eager.KvBudgetBytes);
    }

    private static readonly DeviceMemory H100 = new("cuda", "h100-80gb", 80L << 30, 80L << 30);

    [Fact]
    public void Enforce_eager_auto_uses_graphs_when_the_kv_cache_keeps_its_minimum()
    {
        var plan = MemoryPlanner.Plan(Request(H100, mode: EagerMode.Auto));
        Assert.True(plan.CudaGraphs);
        Assert.Equal(MemoryPlanner.Plan(Request(H100)).KvBlocks, plan.KvBlocks);   // the same plan as enforce_eager false
        Assert.Contains("at least the minimum of 32768", plan.GraphDecision);
        Assert.Contains("CUDA graphs on", plan.Describe());
    }

    [Fact]
    public void Enforce_eager_auto_runs_eager_when_the_pool_would_cut_the_kv_cache_below_its_minimum()
    {
        // A GPU sized so that the KV cache holds the minimum (16 x 2048 tokens) plus half the graph pool: with graphs it
        // would fall short, without them it is above.
        var probe = MemoryPlanner.Plan(Request(H100));
        var minimum = MemoryPlanner.AutoMinimumKvTokens(Request(H100)) * probe.KvBytesPerToken;
        var left = minimum + probe.GraphPoolBytes / 2;
        var total = (long)Math.Ceiling((left + MemoryPlanner.CudaContextBytes + probe.WeightBytes + probe.ActivationBytes) / 0.9);
        var gpu = new DeviceMemory("cuda", "sized", total, total);

        var auto = MemoryPlanner.Plan(Request(gpu, mode: EagerMode.Auto));
        Assert.False(auto.CudaGraphs);
        Assert.Empty(auto.GraphCaptures);
        Assert.Contains("below the minimum of 32768", auto.GraphDecision);
        Assert.Contains("running eager", auto.GraphDecision);
        Assert.True(auto.KvTokens >= 32768);
        var forced = MemoryPlanner.Plan(Request(gpu, mode: EagerMode.False));
        Assert.True(forced.CudaGraphs);
        Assert.True(forced.KvTokens < 32768);
        Assert.Equal(auto.KvBudgetBytes, MemoryPlanner.Plan(Request(gpu, mode: EagerMode.True)).KvBudgetBytes);
    }

    [Fact]
    public void Enforce_eager_auto_with_an_explicit_kv_cache_asks_whether_the_pool_fits_beside_it()
    {
        var probe = MemoryPlanner.Plan(Request(H100, eager: true));
        var fits = MemoryPlanner.Plan(Request(H100, kv: probe.KvBudgetBytes / 2, mode: EagerMode.Auto));
        Assert.True(fits.CudaGraphs);
        var tooBig = MemoryPlanner.Plan(Request(H100, kv: probe.KvBudgetBytes - probe.GraphPoolBytes / 2, mode: EagerMode.Auto));
        Assert.False(tooBig.CudaGraphs);
        Assert.Contains("does not fit beside kv_cache_memory", tooBig.GraphDecision);
    }

    [Theory]
    [InlineData(EagerMode.Auto)]
    [InlineData(EagerMode.False)]
    [InlineData(EagerMode.True)]
    public void On_a_cpu_graphs_never_apply_whatever_enforce_eager_says(EagerMode mode)
    {
        var plan = MemoryPlanner.Plan(Request(Cpu(24), mode: mode));
        Assert.False(plan.CudaGraphs);
        Assert.Contains($"a CPU has no CUDA graphs (enforce_eager {mode.ToWireName()}", plan.GraphDecision);
    }

    [Fact]
    public void The_auto_rule_is_a_plain_comparison_with_the_minimum()
    {
        Assert.True(MemoryPlanner.AutoGraphsFit(32768, 32768));
        Assert.False(MemoryPlanner.AutoGraphsFit(32767, 32768));
        Assert.Equal(3 * 1008L, MemoryPlanner.AutoMinimumKvTokens(Request(H100, maxModelLen: 1000, maxNumSeqs: 3)));   // whole blocks
    }

    /// <summary>At the smallest GPU (in steps of one KV block's bytes) on which enforce_eager auto captures graphs, and
    /// one step up, the cache still holds max_num_seqs full sequences once the scratch block is taken: graphs never cost
    /// a preemption.</summary>
    [Fact]
    public void Auto_captures_graphs_only_where_the_cache_still_holds_max_num_seqs_sequences()
    {
        var blockBytes = 16 * MemoryPlanner.KvBytesPerToken(Llama32_1B, ModelDtype.BFloat16);
        MemoryPlan At(long blocks)
        {
            var total = (3L << 30) + blocks * blockBytes;
            return MemoryPlanner.Plan(Request(new DeviceMemory("cuda", "test", total, total), maxModelLen: 1024, maxNumSeqs: 4, mode: EagerMode.Auto));
        }
        long eager = 0, graphs = 1 << 16;
        Assert.False(At(eager).CudaGraphs);
        Assert.True(At(graphs).CudaGraphs);
        while (graphs - eager > 1)
        {
            var mid = (eager + graphs) / 2;
            if (At(mid).CudaGraphs) graphs = mid; else eager = mid;
        }
        foreach (var plan in new[] { At(graphs), At(graphs + 1) })
        {
            Assert.True(plan.CudaGraphs);
            Assert.True(plan.KvTokens >= 4 * 1024, $"graphs on with a cache of {plan.KvTokens} tokens: {plan.Describe()}");
            Assert.Equal(4, plan.Sequences);
            Assert.DoesNotContain(plan.Notes, n => n.Contains("fewer than max_num_seqs"));
        }
    }

    [Fact]
    public void Capture_sizes_follow_vllm_and_stop_at_twice_max_num_seqs()
    {
        Assert.Equal([1, 2, 4, 8, 16], MemoryPlanner.CaptureSizes(8));
        Assert.Equal(35, MemoryPlanner.CaptureSizes(512).Count);
    }

    [Theory]
    [InlineData("24GiB", 24L << 30)]
    [InlineData("512MiB", 512L << 20)]
    [InlineData("80GB", 80_000_000_000L)]
    [InlineData("1.5G", 3L << 29)]
    [InlineData("4096", 4096L)]
    [InlineData("2Gi", 2L << 30)]
    public void Sizes_parse_as_operators_write_them(string text, long bytes)
    {
        Assert.True(ByteSize.TryParse(text, out var parsed));
        Assert.Equal(bytes, parsed);
    }

    [Theory]
    [InlineData("")]
    [InlineData("lots")]
    [InlineData("-1GiB")]
    [InlineData("5XB")]
    public void Nonsense_sizes_are_refused(string text) => Assert.False(ByteSize.TryParse(text, out _));
}

/// <summary>`bento fit`'s plan is made from a stored bento exactly as the runtime makes it.</summary>
public class BentoFitTests : StoreTestBase
{
    [Fact]
    public async Task A_stored_bento_is_planned_with_its_own_settings_unless_overridden()
    {
        var bento = (await BuildAsync(await ModelFixture.BuildDirectoryAsync(Temp, "name: fixture\nruntime:\n  max_num_seqs: 4\n"))).Bento;
        var plan = BentoFit.Plan(bento.Manifest, bento.Directory, new FitOptions { Memory = 1L << 30 });
        Assert.True(plan.Fits);
        Assert.Equal(4, plan.Sequences);
        Assert.Equal(bento.Manifest.Runtime.MaxModelLen, plan.MaxModelLen);
        Assert.Equal(bento.Manifest.Model.Parameters * 4, plan.WeightBytes);

        var gpu = BentoFit.Plan(bento.Manifest, bento.Directory, new FitOptions { Gpu = "l4-24gb", MaxNumSeqs = 2 });
        Assert.Equal("cuda", gpu.Device.Kind);
        Assert.Equal([4, 2, 1], gpu.GraphCaptures.Select(c => c.BatchSize));

        var auto = BentoFit.Plan(bento.Manifest, bento.Directory, new FitOptions { Gpu = "l4-24gb", EnforceEager = EagerMode.Auto });
        Assert.True(auto.CudaGraphs);                                  // a tiny model leaves the pool plenty of room
        Assert.Contains("enforce_eager auto", auto.GraphDecision);
        Assert.Empty(BentoFit.Plan(bento.Manifest, bento.Directory, new FitOptions { Gpu = "l4-24gb", EnforceEager = EagerMode.True }).GraphCaptures);

        Assert.Contains("not known", Assert.Throws<UsageException>(() => BentoFit.Plan(bento.Manifest, bento.Directory, new FitOptions { Gpu = "tpu" })).Message);
        Assert.Contains("out of range", Assert.Throws<UsageException>(() => BentoFit.Plan(bento.Manifest, bento.Directory, new FitOptions { MaxModelLen = 1 << 30 })).Message);
    }
}
