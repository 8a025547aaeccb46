using Bento.Core.Manifest;
using Bento.Core.Model;

namespace Bento.Core.Serving;

/// <summary>What <c>bento fit</c> is asked: a device and settings that replace the bento's own for this plan.</summary>
public sealed record FitOptions
{
    /// <summary>A CPU machine with this much free memory (null: this machine, or the GPU when given).</summary>
    public long? Memory { get; init; }
    /// <summary>A GPU name from <see cref="DeviceMemory.KnownGpus"/>.</summary>
    public string? Gpu { get; init; }
    public int? MaxModelLen { get; init; }
    public int? MaxNumSeqs { get; init; }
    public string? Dtype { get; init; }
    public double? GpuMemoryUtilization { get; init; }
    public long? KvCacheMemory { get; init; }
    public EagerMode? EnforceEager { get; init; }
}

/// <summary>
/// <c>bento fit</c>: the memory plan the runtime would make for a stored bento on a given device, before deploying
/// it. The bento's manifest and config.json are read exactly as the runtime reads them, and
/// <see cref="MemoryPlanner"/> does the arithmetic for both.
/// </summary>
public static class BentoFit
{
    public static MemoryPlan Plan(BentoManifest manifest, string bentoDirectory, FitOptions options) =>
        Plan(manifest, LoadConfig(manifest, bentoDirectory), options);

    public static ModelConfig LoadConfig(BentoManifest manifest, string bentoDirectory) =>
        ModelConfig.Load(Path.Combine(bentoDirectory, manifest.Model.Path));

    /// <summary>The plan for a config already read (callers planning several sizes read config.json once).</summary>
    public static MemoryPlan Plan(BentoManifest manifest, ModelConfig config, FitOptions options)
    {
        var maxModelLen = options.MaxModelLen ?? (manifest.Runtime.MaxModelLen > 0 ? manifest.Runtime.MaxModelLen : config.MaxPositionEmbeddings);
        if (maxModelLen < 1 || maxModelLen > config.MaxPositionEmbeddings)
            throw new UsageException($"--max-model-len {maxModelLen} is out of range; use 1 to {config.MaxPositionEmbeddings} (the model's max_position_embeddings)");
        var dtypeSetting = options.Dtype ?? manifest.Runtime.Dtype;
        if (ModelDtype.CanonicalSetting(dtypeSetting) is null)
            throw new UsageException($"--dtype '{dtypeSetting}' is not a dtype; {ModelDtype.Choices}");
        var device = options switch
        {
            { Gpu: { } gpu, Memory: not null } => throw new UsageException("give --memory or --gpu, not both"),
            { Gpu: { } gpu } => DeviceMemory.KnownGpus.TryGetValue(gpu, out var bytes)
                ? new DeviceMemory("cuda", gpu.ToLowerInvariant(), bytes, bytes)
                : throw new UsageException($"--gpu '{gpu}' is not known; use one of {string.Join(", ", DeviceMemory.KnownGpus.Keys)}, or --memory SIZE for a CPU"),
            { Memory: { } memory } => new DeviceMemory("cpu", "given", memory, memory),
            _ => HostMemory.Measure(),
        };
        return MemoryPlanner.Plan(new PlanRequest
        {
            Model = config,
            Parameters = manifest.Model.Parameters,
            Dtype = ModelDtype.Resolve(dtypeSetting, config.TorchDtype),
            MaxModelLen = maxModelLen,
            MaxNumSeqs = options.MaxNumSeqs ?? (manifest.Runtime.MaxNumSeqs > 0 ? manifest.Runtime.MaxNumSeqs : EngineDefaults.MaxNumSeqs),
            Device = device,
            GpuMemoryUtilization = options.GpuMemoryUtilization ?? manifest.Runtime.GpuMemoryUtilization,
            KvCacheMemory = options.KvCacheMemory,
            EnforceEager = options.EnforceEager ?? manifest.Runtime.EnforceEager.Value,
        });
    }
}
