using Bento.Core.Manifest;

namespace Bento.Core.Serving;

/// <summary>
/// The memory a container needs to serve a bento as configured, for <c>bento deploy</c>'s default memory request and
/// limit. On a CPU the runtime sizes its KV cache from what the cgroup leaves it (<see cref="MemoryPlanner"/>), so the
/// answer is the smallest limit for which that same plan serves max_num_seqs full-length sequences, plus the
/// process's own footprint. With GPUs the KV cache lives on the device and the host needs the weights' staging copy.
/// </summary>
public static class PodMemory
{
    /// <summary>.NET, LibTorch's code and allocator arenas, the tokenizer: resident besides tensors.</summary>
    public const long RuntimeOverheadBytes = 768L << 20;

    /// <summary>Limits are rounded up to this, so small changes do not churn the generated objects.</summary>
    public const long Granularity = 256L << 20;

    public static long Required(BentoManifest manifest, string bentoDirectory, FitOptions settings, bool gpus)
    {
        var config = BentoFit.LoadConfig(manifest, bentoDirectory);
        // A plan with room to spare says what the weights, activations and a full-length sequence take.
        var probe = BentoFit.Plan(manifest, config, settings with { Memory = 1L << 40 });
        if (gpus) return RoundUp(probe.WeightBytes + RuntimeOverheadBytes);
        // The plan grows with memory: start from weights + activations + twice the KV cache (the CPU share is half).
        var target = probe.MaxNumSeqs;
        var memory = probe.WeightBytes + probe.ActivationBytes + probe.KvBytesPerToken * probe.MaxModelLen * target * 2;
        for (var i = 0; i < 64; i++)
        {
            var plan = BentoFit.Plan(manifest, config, settings with { Memory = memory });
            if (plan.Fits && plan.Sequences >= target) return RoundUp(memory + RuntimeOverheadBytes);
            memory += Math.Max(Granularity, memory / 16);
        }
        throw new BentoException($"{manifest.Tag}: no memory size up to {ByteSize.Format(memory)} serves max_num_seqs {target}; give --memory");
    }

    public static long RoundUp(long bytes) => (bytes + Granularity - 1) / Granularity * Granularity;
}
