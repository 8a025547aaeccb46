using Bento.Runtime.Model;

namespace Bento.Runtime.Tests.Model;

/// <summary>The runner is chosen from the memory plan (device and enforce_eager as the planner resolved them).</summary>
public sealed class ModelRunnerFactoryTests
{
    private static readonly ModelConfig Shape = new()
    {
        VocabSize = 32000, HiddenSize = 2048, IntermediateSize = 8192, NumHiddenLayers = 16,
        NumAttentionHeads = 32, NumKeyValueHeads = 8, HeadDim = 64, MaxPositionEmbeddings = 8192,
    };

    private static MemoryPlan Plan(DeviceMemory device, EagerMode eager) => MemoryPlanner.Plan(new PlanRequest
    {
        Model = Shape, Parameters = 1_100_000_000, Dtype = ModelDtype.BFloat16, MaxModelLen = 2048, MaxNumSeqs = 8,
        Device = device, EnforceEager = eager,
    });

    [Theory]
    [InlineData(EagerMode.True)]
    [InlineData(EagerMode.False)]
    [InlineData(EagerMode.Auto)]
    public void A_cpu_always_gets_the_eager_runner_and_says_graphs_do_not_apply(EagerMode eager)
    {
        var (kind, device, state) = ModelRunnerFactory.Choose(Plan(new DeviceMemory("cpu", "test", 32L << 30, 32L << 30), eager));
        Assert.Equal(("eager", "cpu"), (kind, device));
        Assert.StartsWith("unavailable on CPU", state);
    }

    [Fact]
    public void A_gpu_runs_eager_on_the_gpu_when_the_plan_says_so_and_names_the_missing_graph_runner_otherwise()
    {
        var gpu = new DeviceMemory("cuda", "h100-80gb", 80L << 30, 80L << 30);
        var eager = ModelRunnerFactory.Choose(Plan(gpu, EagerMode.True));
        Assert.Equal(("eager", "cuda"), (eager.Kind, eager.Device));
        Assert.Equal("off: enforce_eager is true", eager.GraphState);
        var graphs = ModelRunnerFactory.Choose(Plan(gpu, EagerMode.Auto));
        Assert.Equal("cuda", graphs.Device);
        Assert.Contains("no CUDA-graph runner yet", graphs.GraphState);
    }

    [Fact]
    public void The_runner_gets_the_plans_blocks_on_its_device()
    {
        var plan = MemoryPlanner.Plan(new PlanRequest
        {
            Model = ModelConfig.Load(ModelTestSupport.TinyLlama), Parameters = 918_656, Dtype = ModelDtype.Float32, MaxModelLen = 64, MaxNumSeqs = 3,
            Device = new DeviceMemory("cpu", "test", 1L << 30, 1L << 30), KvCacheMemory = 41 * 16 * 2048, EnforceEager = EagerMode.Auto,
        });
        var selection = ModelRunnerFactory.Create(new RunnerRequest
        {
            ModelDirectory = ModelTestSupport.TinyLlama, Config = ModelConfig.Load(ModelTestSupport.TinyLlama), Dtype = "auto", MaxModelLen = 64, Plan = plan,
        });
        using var runner = selection.Runner;
        Assert.Equal(40, runner.KvBlocks);
        Assert.Equal(40, selection.Info.KvBlocks);
        Assert.Equal(plan.KvCacheBytes, selection.Info.KvCacheBytes); // 40 blocks and the scratch block, as planned
        Assert.Equal("cpu", selection.Info.Device);
        Assert.StartsWith("unavailable on CPU", selection.Info.GraphState);
    }
}
