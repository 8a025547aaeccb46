using System.Text;
using System.Text.Json.Nodes;
using Bento.Core.Model;

namespace Bento.Core.Serving;

/// <summary>The memory one start may use: measured by the runtime, or given to <c>bento fit</c>.</summary>
/// <param name="Kind">"cpu" or "cuda".</param>
/// <param name="TotalBytes">The device's memory (for a CPU: RAM, or the container's limit).</param>
/// <param name="AvailableBytes">What is free now (for a CPU: MemAvailable, within the container's limit).</param>
public sealed record DeviceMemory(string Kind, string Name, long TotalBytes, long AvailableBytes)
{
    public bool IsCuda => Kind == "cuda";

    /// <summary>GPUs <c>bento fit --gpu</c> knows, by the memory their drivers report.</summary>
    public static readonly IReadOnlyDictionary<string, long> KnownGpus = new Dictionary<string, long>(StringComparer.OrdinalIgnoreCase)
    {
        ["t4-16gb"] = 15L << 30,
        ["l4-24gb"] = 22L << 30,
        ["a10g-24gb"] = 22L << 30,
        ["rtx4090-24gb"] = 24L << 30,
        ["a100-40gb"] = 40L << 30,
        ["l40s-48gb"] = 45L << 30,
        ["a100-80gb"] = 80L << 30,
        ["h100-80gb"] = 80L << 30,
        ["h200-141gb"] = 140L << 30,
    };
}

/// <summary>What a start asks of memory: the model, the resolved settings, and the device.</summary>
public sealed record PlanRequest
{
    public required ModelConfig Model { get; init; }
    public required long Parameters { get; init; }
    public required ModelDtype Dtype { get; init; }
    public required int MaxModelLen { get; init; }
    public required int MaxNumSeqs { get; init; }
    public required DeviceMemory Device { get; init; }
    public double GpuMemoryUtilization { get; init; } = 0.9;
    /// <summary>An explicit KV cache size; null: from gpu_memory_utilization (GPU) or <see cref="MemoryPlanner.CpuKvFraction"/> (CPU).</summary>
    public long? KvCacheMemory { get; init; }
    /// <summary>enforce_eager as resolved: on a GPU True plans no CUDA graphs, False plans them, Auto plans them only
    /// when <see cref="MemoryPlanner.AutoGraphsFit"/>.</summary>
    public EagerMode EnforceEager { get; init; }
    /// <summary>Tokens one prefill step processes at most (the runner's chunk).</summary>
    public int PrefillChunk { get; init; } = 512;
}

/// <summary>One CUDA-graph capture size and the pool estimate once it and every larger size are captured.</summary>
public sealed record GraphCapture(int BatchSize, long PoolBytes);

/// <summary>
/// The memory plan of one start: weights, peak activations, the KV budget and the blocks of
/// <see cref="MemoryPlanner.BlockSize"/> tokens it is cut into (the paged KV cache the runtime allocates), how many
/// full-length sequences those hold at once, and on a GPU the CUDA-graph pool and whether graphs are used.
/// <see cref="Problem"/> is set when the model does not fit; then nothing should be allocated.
/// </summary>
public sealed record MemoryPlan
{
    public required DeviceMemory Device { get; init; }
    public required long WeightBytes { get; init; }
    public required long ActivationBytes { get; init; }
    public required long NonTorchBytes { get; init; }
    public required long KvBytesPerToken { get; init; }
    /// <summary>What the KV cache may take: the explicit size, or what is left of the budget.</summary>
    public required long KvBudgetBytes { get; init; }
    /// <summary>What the KV cache will take: <see cref="KvBlocks"/> blocks and the scratch block padding rows write.</summary>
    public required long KvCacheBytes { get; init; }
    /// <summary>Blocks sequences can use (16 tokens each, taken as they grow); the runtime allocates one more, the scratch block.</summary>
    public required int KvBlocks { get; init; }
    /// <summary>Tokens the blocks hold, summed over all sequences.</summary>
    public required long KvTokens { get; init; }
    /// <summary>Sequences of max_model_len tokens the cache holds at once, at most max_num_seqs. Up to max_num_seqs
    /// sequences run together when they are shorter; when they outgrow the cache, some are preempted and recomputed.</summary>
    public required int Sequences { get; init; }
    public required int MaxModelLen { get; init; }
    public required int MaxNumSeqs { get; init; }
    /// <summary>The capture sizes and pool of the CUDA graphs the plan uses (empty when it uses none).</summary>
    public required IReadOnlyList<GraphCapture> GraphCaptures { get; init; }
    /// <summary>Whether the runtime should capture CUDA graphs (never on a CPU).</summary>
    public bool CudaGraphs => GraphCaptures.Count > 0;
    /// <summary>Why graphs are on or off, in words (enforce_eager's value and, for auto, the memory that decided).</summary>
    public required string GraphDecision { get; init; }
    /// <summary>The pool once every size is captured (captures are listed in capture order, largest batch first).</summary>
    public long GraphPoolBytes => GraphCaptures.Count == 0 ? 0 : GraphCaptures[^1].PoolBytes;
    public required string Source { get; init; }
    public string? Problem { get; init; }
    public IReadOnlyList<string> Notes { get; init; } = [];

    public bool Fits => Problem is null;

    /// <summary>The start-up line and the first lines of <c>bento fit</c>.</summary>
    public string Describe()
    {
        var s = new StringBuilder();
        s.Append($"memory plan ({Device.Kind} {Device.Name}, {ByteSize.Format(Device.TotalBytes)} total, {ByteSize.Format(Device.AvailableBytes)} available): ");
        s.Append($"weights {ByteSize.Format(WeightBytes)}, activations {ByteSize.Format(ActivationBytes)}");
        if (NonTorchBytes > 0) s.Append($", CUDA context {ByteSize.Format(NonTorchBytes)}");
        if (GraphCaptures.Count > 0) s.Append($", CUDA graphs {ByteSize.Format(GraphPoolBytes)} for {GraphCaptures.Count} capture sizes");
        s.Append($"; KV budget {ByteSize.Format(KvBudgetBytes)} ({Source})");
        s.Append(Fits
            ? $"; KV cache {KvBlocks} blocks of {MemoryPlanner.BlockSize} tokens = {KvTokens} tokens ({ByteSize.Format(KvCacheBytes)} with the scratch block), " +
              $"{Sequences} sequences of max_model_len {MaxModelLen} at once, up to max_num_seqs {MaxNumSeqs} shorter ones"
            : $"; does not fit: {Problem}");
        s.Append($"; CUDA graphs {(CudaGraphs ? "on" : "off")}: {GraphDecision}");
        return s.ToString();
    }

    public JsonObject ToJson() => new()
    {
        ["device"] = new JsonObject { ["kind"] = Device.Kind, ["name"] = Device.Name, ["total_bytes"] = Device.TotalBytes, ["available_bytes"] = Device.AvailableBytes },
        ["weight_bytes"] = WeightBytes,
        ["activation_bytes"] = ActivationBytes,
        ["non_torch_bytes"] = NonTorchBytes,
        ["kv_budget_bytes"] = KvBudgetBytes,
        ["kv_budget_source"] = Source,
        ["kv_bytes_per_token"] = KvBytesPerToken,
        ["kv_block_size"] = MemoryPlanner.BlockSize,
        ["kv_blocks"] = KvBlocks,
        ["kv_tokens"] = KvTokens,
        ["kv_cache_bytes"] = KvCacheBytes,
        ["sequences"] = Sequences,
        ["max_num_seqs"] = MaxNumSeqs,
        ["max_model_len"] = MaxModelLen,
        ["cuda_graphs"] = new JsonArray(GraphCaptures.Select(g => (JsonNode)new JsonObject { ["batch_size"] = g.BatchSize, ["pool_bytes"] = g.PoolBytes }).ToArray()),
        ["cuda_graph_pool_bytes"] = GraphPoolBytes,
        ["cuda_graphs_enabled"] = CudaGraphs,
        ["cuda_graph_decision"] = GraphDecision,
        ["fits"] = Fits,
        ["problem"] = Problem,
        ["notes"] = new JsonArray(Notes.Select(n => (JsonNode)n).ToArray()),
    };
}

/// <summary>
/// Sizes the engine from memory, as vLLM does: KV budget = usable memory - weights - peak activations (- CUDA context
/// and graph pool on a GPU), cut into blocks of <see cref="BlockSize"/> tokens. Pure: the runtime passes what it
/// measured and <c>bento fit</c> what it was told, so both print the same plan for the same numbers.
/// </summary>
public static class MemoryPlanner
{
    /// <summary>Tokens per KV block (vLLM's default block size).</summary>
    public const int BlockSize = 16;

    /// <summary>On a CPU without kv_cache_memory, the KV cache may take this share of what is left after weights and activations.</summary>
    public const double CpuKvFraction = 0.5;

    /// <summary>CUDA context and allocator overhead outside PyTorch/LibTorch tensors (vLLM measures ~0.5 GiB on Hopper).</summary>
    public const long CudaContextBytes = 512L << 20;

    /// <summary>Bookkeeping per captured graph beyond the shared pool (vLLM logs 6-28 MiB per shape).</summary>
    public const long BytesPerGraph = 4L << 20;

    /// <summary>vLLM's default cudagraph_capture_sizes: 1, 2, 4, then 8 to 256 in steps of 8, at most 2 x max_num_seqs (and 512).</summary>
    public static IReadOnlyList<int> CaptureSizes(int maxNumSeqs)
    {
        var cap = Math.Min(2 * maxNumSeqs, 512);
        return new[] { 1, 2, 4 }.Concat(Enumerable.Range(1, 32).Select(i => 8 * i)).Where(s => s <= cap).ToList();
    }

    public static long KvBytesPerToken(ModelConfig c, ModelDtype dtype) =>
        2L * c.NumHiddenLayers * c.NumKeyValueHeads * c.HeadDim * dtype.Bytes;

    /// <summary>
    /// Peak temporary memory of one step over <paramref name="tokens"/> tokens with keys up to
    /// <paramref name="keyLength"/>: the residual stream and norms, q/k/v, the MLP's gate, up and product, float32
    /// attention scores (the eager path materialises them), and float32 logits for <paramref name="sequences"/> rows.
    /// </summary>
    public static long StepActivationBytes(ModelConfig c, ModelDtype dtype, long tokens, long keyLength, long sequences)
    {
        long q = (long)c.NumAttentionHeads * c.HeadDim, kv = (long)c.NumKeyValueHeads * c.HeadDim;
        var perToken = (4L * c.HiddenSize + q + 2 * kv + 3L * c.IntermediateSize) * dtype.Bytes;
        var scores = (long)c.NumAttentionHeads * tokens * keyLength * 4;
        var logits = sequences * c.VocabSize * 4L;
        return tokens * perToken + scores + logits;
    }

    /// <summary>
    /// enforce_eager auto's rule: CUDA graphs only if, after their pool, the KV cache still holds its minimum,
    /// <see cref="AutoMinimumKvTokens"/> (every sequence max_num_seqs allows at max_model_len: the most the engine can
    /// ever hold at once, so graphs never cost a preemption). With an explicit kv_cache_memory, graphs only if the
    /// pool fits beside it.
    /// </summary>
    public static bool AutoGraphsFit(long kvTokensWithGraphs, long minimumTokens) => kvTokensWithGraphs >= minimumTokens;

    /// <summary>The KV cache enforce_eager auto secures before it spends memory on CUDA graphs, in tokens.</summary>
    public static long AutoMinimumKvTokens(PlanRequest r) => (long)r.MaxNumSeqs * BlocksFor(r.MaxModelLen) * BlockSize;

    public static int BlocksFor(long tokens) => (int)Math.Min(int.MaxValue, (tokens + BlockSize - 1) / BlockSize);

    public static MemoryPlan Plan(PlanRequest r)
    {
        var notes = new List<string>();
        // int8 matrices take a byte per weight (plus scales) whatever the dtype; activations and the KV cache use the
        // activation dtype (float32 on a CPU).
        var weights = r.Model.Quantization is null ? r.Parameters * r.Dtype.Bytes : TensorLayout.For(r.Model).WeightBytes(r.Dtype);
        var compute = ModelDtype.Activation(onCpu: !r.Device.IsCuda, r.Dtype);
        var bytesPerToken = KvBytesPerToken(r.Model, compute);
        var blockBytes = BlockSize * bytesPerToken;
        var prefillTokens = Math.Min(r.PrefillChunk, r.MaxModelLen);
        var activations = Math.Max(
            StepActivationBytes(r.Model, compute, prefillTokens, r.MaxModelLen, 1),
            StepActivationBytes(r.Model, compute, r.MaxNumSeqs, r.MaxModelLen, r.MaxNumSeqs));
        var fullConcurrencyBlocks = (long)r.MaxNumSeqs * BlocksFor(r.MaxModelLen);

        var captures = new List<GraphCapture>();
        long nonTorch = 0, budget;
        string source, decision;
        if (r.Device.IsCuda)
        {
            nonTorch = CudaContextBytes;
            // Captured largest first into one shared pool: the pool is the largest size's activations plus a
            // little per graph; each row says what the pool holds once that size (and every larger) is captured.
            var sizes = CaptureSizes(r.MaxNumSeqs).OrderByDescending(s => s).ToList();
            var largest = StepActivationBytes(r.Model, compute, sizes[0], r.MaxModelLen, sizes[0]);
            var allCaptures = sizes.Select((size, i) => new GraphCapture(size, largest + (i + 1) * BytesPerGraph)).ToList();
            var pool = allCaptures[^1].PoolBytes;
            var usable = (long)(r.Device.TotalBytes * r.GpuMemoryUtilization);
            var left = usable - nonTorch - weights - activations;   // before any graph pool
            bool graphs;
            switch (r.EnforceEager)
            {
                case EagerMode.True:
                    graphs = false;
                    decision = "enforce_eager is true";
                    break;
                case EagerMode.False:
                    graphs = true;
                    decision = $"enforce_eager is false: {allCaptures.Count} capture sizes, pool about {ByteSize.Format(pool)}";
                    break;
                default:
                    var minimum = AutoMinimumKvTokens(r);
                    if (r.KvCacheMemory is { } fixedKv)
                    {
                        graphs = left - pool >= fixedKv;
                        decision = graphs
                            ? $"enforce_eager auto: the pool (about {ByteSize.Format(pool)}) fits beside kv_cache_memory {ByteSize.Format(fixedKv)}"
                            : $"enforce_eager auto: the pool (about {ByteSize.Format(pool)}) does not fit beside kv_cache_memory {ByteSize.Format(fixedKv)} " +
                              $"({ByteSize.Format(Math.Max(0, left))} left after weights and activations); running eager";
                    }
                    else
                    {
                        var withGraphs = Math.Max(0, Math.Max(0, left - pool) / blockBytes - 1) * BlockSize; // less the scratch block
                        graphs = AutoGraphsFit(withGraphs, minimum);
                        decision = graphs
                            ? $"enforce_eager auto: after the pool (about {ByteSize.Format(pool)}) the KV cache still holds {withGraphs} tokens, " +
                              $"at least the minimum of {minimum} (max_num_seqs {r.MaxNumSeqs} x max_model_len {r.MaxModelLen})"
                            : $"enforce_eager auto: the pool (about {ByteSize.Format(pool)}) would leave the KV cache {withGraphs} tokens, " +
                              $"below the minimum of {minimum} (max_num_seqs {r.MaxNumSeqs} x max_model_len {r.MaxModelLen}); running eager, the pool's memory goes to the KV cache";
                    }
                    break;
            }
            if (graphs) captures = allCaptures;
            var kvLeft = left - (graphs ? pool : 0);
            (budget, source) = r.KvCacheMemory is { } explicitKv
                ? (explicitKv, "kv_cache_memory")
                : (kvLeft, $"gpu_memory_utilization {r.GpuMemoryUtilization:0.##}");
            if (r.KvCacheMemory is { } k && k > kvLeft)
                notes.Add($"kv_cache_memory {ByteSize.Format(k)} is more than the {ByteSize.Format(Math.Max(0, kvLeft))} left at gpu_memory_utilization {r.GpuMemoryUtilization:0.##}");
        }
        else
        {
            decision = $"a CPU has no CUDA graphs (enforce_eager {r.EnforceEager.ToWireName()} has no effect here)";
            var left = r.Device.AvailableBytes - weights - activations;
            (budget, source) = r.KvCacheMemory is { } explicitKv
                ? (explicitKv, "kv_cache_memory")
                : ((long)(Math.Max(0, left) * CpuKvFraction), $"{CpuKvFraction:0.##} of available memory");
            if (r.KvCacheMemory is { } k && k > left)
                notes.Add($"kv_cache_memory {ByteSize.Format(k)} is more than the {ByteSize.Format(Math.Max(0, left))} available after weights and activations");
        }

        // One block more than the usable ones is allocated: the scratch block that padding rows write (KvCache.ScratchBlock).
        var budgetBlocks = Math.Clamp(budget / blockBytes - 1, 0, int.MaxValue);
        // On a CPU the default budget is a share of the machine's RAM, shared with everything else: take no more than
        // max_num_seqs sequences of max_model_len can ever use. An explicit kv_cache_memory (and a GPU, whose memory
        // is the engine's by gpu_memory_utilization) is used whole: the blocks beyond that keep more prefixes cached.
        var blocks = (int)(r.Device.IsCuda || r.KvCacheMemory is not null ? budgetBlocks : Math.Min(budgetBlocks, fullConcurrencyBlocks));
        var tokens = (long)blocks * BlockSize;
        var sequences = (int)Math.Min(r.MaxNumSeqs, tokens / r.MaxModelLen);
        string? problem = null;
        if (budget <= 0)
            problem = $"weights ({ByteSize.Format(weights)}) and activations ({ByteSize.Format(activations)}) leave no memory for the KV cache; " +
                      (r.Device.IsCuda ? "raise gpu_memory_utilization, use a smaller dtype or a bigger GPU" : "free memory, use a smaller dtype or a bigger machine");
        else if (sequences < 1)
            problem = $"the KV cache holds {tokens} tokens, fewer than one sequence of max_model_len {r.MaxModelLen}; " +
                      (tokens > 0 ? $"set max_model_len to at most {tokens} or give" : $"its budget ({ByteSize.Format(budget)}) is less than two blocks of {BlockSize} tokens ({ByteSize.Format(2 * blockBytes)}, one of them the scratch block); give") +
                      $" the KV cache more memory (kv_cache_memory{(r.Device.IsCuda ? ", gpu_memory_utilization" : "")})";
        else if (sequences < r.MaxNumSeqs)
            notes.Add($"the KV cache holds {sequences} sequences of max_model_len {r.MaxModelLen} at once, fewer than max_num_seqs {r.MaxNumSeqs}: " +
                      $"up to {r.MaxNumSeqs} run together while their real lengths fit its {tokens} tokens; when they outgrow it, the newest are preempted and recomputed later");

        return new MemoryPlan
        {
            Device = r.Device,
            WeightBytes = weights,
            ActivationBytes = activations,
            NonTorchBytes = nonTorch,
            KvBytesPerToken = bytesPerToken,
            KvBudgetBytes = budget,
            KvCacheBytes = problem is null ? (blocks + 1L) * blockBytes : 0,
            KvBlocks = problem is null ? blocks : 0,
            KvTokens = problem is null ? tokens : 0,
            Sequences = problem is null ? sequences : 0,
            MaxModelLen = r.MaxModelLen,
            MaxNumSeqs = r.MaxNumSeqs,
            GraphCaptures = captures,
            GraphDecision = decision,
            Source = source,
            Problem = problem,
            Notes = notes,
        };
    }
}
