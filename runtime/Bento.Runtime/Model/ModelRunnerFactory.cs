namespace Bento.Runtime.Model;

/// <summary>What the factory needs to choose and build a runner: the model, the resolved settings and the plan.</summary>
public sealed record RunnerRequest
{
    public required string ModelDirectory { get; init; }
    public required ModelConfig Config { get; init; }
    /// <summary>The dtype setting (auto, float32, bfloat16, float16).</summary>
    public required string Dtype { get; init; }
    public required int MaxModelLen { get; init; }
    /// <summary>The memory plan: its device, its KV blocks and whether it uses CUDA graphs.</summary>
    public required MemoryPlan Plan { get; init; }
    public int Threads { get; init; } = Environment.ProcessorCount;
}

/// <summary>The runner built for a start, and what /health says about CUDA graphs.</summary>
/// <param name="Kind">"eager" or "cuda-graphs".</param>
public sealed record RunnerSelection(IModelRunner Runner, string Kind, string GraphState)
{
    /// <summary>The runner's description with the factory's graph state.</summary>
    public RunnerInfo Info => Runner.Info with { GraphState = GraphState };
}

/// <summary>
/// Chooses the model runner from the resolved settings and the device (vLLM's model-runner seam): on a CPU the eager
/// runner (graphs do not exist there, whatever enforce_eager says); on a GPU the eager runner when the plan runs eager
/// (enforce_eager true, or auto deciding the graph pool does not fit), and the CUDA-graph runner when the plan uses
/// graphs. The KV cache is allocated on the runner's device with the plan's blocks. No CUDA-graph runner exists yet
/// (TorchSharp 0.107 cannot capture graphs; see Model/README.md): a plan that wants graphs runs eager on the GPU and
/// /health says why.
/// </summary>
public static class ModelRunnerFactory
{
    /// <summary>The runner kind and /health graph state for a plan (pure, so the choice is testable without a model).</summary>
    public static (string Kind, string Device, string GraphState) Choose(MemoryPlan plan)
    {
        if (!plan.Device.IsCuda)
            return ("eager", "cpu", $"unavailable on CPU: {plan.GraphDecision}");
        if (!plan.CudaGraphs)
            return ("eager", "cuda", $"off: {plan.GraphDecision}");
        return ("eager", "cuda", $"off: the plan chose CUDA graphs ({plan.GraphDecision}) but this runtime has no CUDA-graph runner yet; running eager");
    }

    public static RunnerSelection Create(RunnerRequest request)
    {
        if (!request.Plan.Fits) throw new ArgumentException($"the memory plan does not fit: {request.Plan.Problem}", nameof(request));
        var (kind, device, state) = Choose(request.Plan);
        var runner = EagerModelRunner.Open(request.ModelDirectory, new EagerRunnerOptions
        {
            Dtype = request.Dtype,
            Slots = 0,
            KvBlocks = request.Plan.KvBlocks,
            MaxSequenceLength = request.MaxModelLen,
            Device = device,
            Threads = request.Threads,
        }, request.Config);
        return new RunnerSelection(runner, kind, state);
    }
}
