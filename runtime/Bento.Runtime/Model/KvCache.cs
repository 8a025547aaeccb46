using Bento.Core.Serving;
using static TorchSharp.torch;

namespace Bento.Runtime.Model;

/// <summary>
/// The paged KV cache (vLLM's layout idea): per layer, keys and values of [blocks + 1, kv_heads, BlockSize, head_dim]
/// on the runner's device. A block holds <see cref="BlockSize"/> consecutive positions of one sequence (or of a
/// prefix several sequences share); a sequence's block table says which blocks hold its positions, so memory is
/// taken per 16 tokens actually used, not per max_model_len. One kv head's keys of a block are contiguous
/// (16 x head_dim), which is what decode attention streams through.
/// </summary>
/// <remarks>
/// Block <see cref="ScratchBlock"/> (one past the usable ones) is never handed out: rows that only pad a batch to a
/// fixed bucket size write there, so a captured graph's padded rows can never touch a sequence's cache.
/// The cache starts zeroed: attention over a gathered block masks the unwritten tail, and a masked zero stays 0
/// where a masked NaN (uninitialised memory) would poison the weighted sum.
/// </remarks>
public sealed class KvCache : IDisposable
{
    /// <summary>Tokens per block: the memory planner's block size (one constant for planner, engine and runner).</summary>
    public const int BlockSize = MemoryPlanner.BlockSize;

    private readonly Tensor[] _keys, _values;

    /// <param name="managedKernels">False: LibTorch ops even where the managed loops apply (for comparison).</param>
    public KvCache(ModelConfig config, int blocks, ScalarType dtype, Device? device = null, bool managedKernels = true)
    {
        if (blocks <= 0) throw new ArgumentException("the KV cache needs at least one block", nameof(blocks));
        Blocks = blocks;
        KvHeads = config.NumKeyValueHeads;
        HeadDim = config.HeadDim;
        Device = device ?? CPU;
        long[] shape = [blocks + 1, KvHeads, BlockSize, HeadDim];
        _keys = Enumerable.Range(0, config.NumHiddenLayers).Select(_ => zeros(shape, dtype, Device)).ToArray();
        _values = Enumerable.Range(0, config.NumHiddenLayers).Select(_ => zeros(shape, dtype, Device)).ToArray();
        Bytes = 2L * config.NumHiddenLayers * shape.Aggregate(1L, (a, b) => a * b) * _keys[0].ElementSize;
        // The managed kernels read and write raw float32 host memory.
        IsManaged = managedKernels && dtype == ScalarType.Float32 && Device.type == TorchSharp.DeviceType.CPU;
    }

    /// <summary>Usable blocks: ids 0 .. Blocks - 1.</summary>
    public int Blocks { get; }
    public int ScratchBlock => Blocks;
    public int KvHeads { get; }
    public int HeadDim { get; }
    public Device Device { get; }
    /// <summary>Bytes allocated, the scratch block included.</summary>
    public long Bytes { get; }
    /// <summary>float32 on the CPU: written and read by <see cref="PagedAttention"/>'s loops instead of LibTorch ops.</summary>
    public bool IsManaged { get; }

    public Tensor Keys(int layer) => _keys[layer];
    public Tensor Values(int layer) => _values[layer];

    /// <summary>
    /// Stores each row's key and value heads (columns [keyColumn, +kv*hd) and [valueColumn, +kv*hd) of
    /// <paramref name="qkv"/>) at the row's cache slot (block, offset).
    /// </summary>
    public void Write(int layer, StepBatch batch, Tensor qkv, int keyColumn, int valueColumn)
    {
        if (IsManaged && qkv.is_contiguous() && qkv.dtype == ScalarType.Float32)
        {
            PagedAttention.WriteCache(qkv, keyColumn, valueColumn, KvHeads, HeadDim, batch.SlotMapping, _keys[layer], _values[layer]);
            return;
        }
        long n = qkv.shape[0], width = (long)KvHeads * HeadDim;
        using var k = qkv.narrow(1, keyColumn, width).view(n, KvHeads, HeadDim);
        using var v = qkv.narrow(1, valueColumn, width).view(n, KvHeads, HeadDim);
        // [blocks, kv, B, hd] seen as [blocks, B, kv, hd]: (block, offset) then indexes one row's [kv, hd].
        using var kView = _keys[layer].permute(0, 2, 1, 3);
        using var vView = _values[layer].permute(0, 2, 1, 3);
        kView.index_put_(k, batch.SlotBlocks, batch.SlotOffsets);
        vView.index_put_(v, batch.SlotBlocks, batch.SlotOffsets);
    }

    /// <summary>One sequence's keys or values for positions [0, length), gathered from its blocks: [kv, length, hd].</summary>
    public Tensor GatherSequence(int layer, Tensor blocks, int length, bool isValue)
    {
        var cache = (isValue ? _values : _keys)[layer];
        using var picked = cache.index_select(0, blocks);                        // [nb, kv, B, hd]
        var nb = blocks.shape[0];
        using var heads = picked.permute(1, 0, 2, 3);                            // [kv, nb, B, hd]
        using var flat = heads.reshape(KvHeads, nb * BlockSize, HeadDim);
        return flat.narrow(1, 0, length);
    }

    /// <summary>
    /// The decode rows' keys or values gathered through their (padded) block tables: [D, kv, M * BlockSize, hd] with
    /// M = <see cref="StepBatch.DecodeBlockColumns"/>; positions past a row's length are masked by
    /// <see cref="StepBatch.DecodeMask"/>.
    /// </summary>
    public Tensor GatherDecode(int layer, StepBatch batch, bool isValue)
    {
        var cache = (isValue ? _values : _keys)[layer];
        long d = batch.DecodeRows, m = batch.DecodeBlockColumns;
        using var flatTable = batch.DecodeBlockTable!.reshape(-1);
        using var picked = cache.index_select(0, flatTable);                     // [D*M, kv, B, hd]
        using var shaped = picked.view(d, m, KvHeads, BlockSize, HeadDim).permute(0, 2, 1, 3, 4);
        return shaped.reshape(d, KvHeads, m * BlockSize, HeadDim);
    }

    public void Dispose()
    {
        foreach (var t in _keys) t.Dispose();
        foreach (var t in _values) t.Dispose();
    }
}
