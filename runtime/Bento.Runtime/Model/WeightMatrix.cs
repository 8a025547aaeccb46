using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Bento.Runtime.Model;

/// <summary>How a <see cref="WeightMatrix"/> stores its elements.</summary>
public enum WeightFormat
{
    Float32,
    BFloat16,
    Float16,

    /// <summary>Signed int8 values q; w = q * scale (compressed-tensors "int-quantized").</summary>
    Int8,

    /// <summary>Unsigned bytes u = q + 128; w = (u - 128) * scale. The little-endian bytes of compressed-tensors'
    /// "pack-quantized" 8-bit int32 words are exactly these, in order, so packed checkpoints are mapped as they are.</summary>
    UInt8Offset128,
}

/// <summary>
/// A linear layer's weight matrix [out, in] in the format its checkpoint stores it: dense float32, bfloat16 or float16,
/// or 8-bit integers with float32 scales per output channel ([out, 1]) or per group of input columns ([out, in / group]).
/// This is the one thing <see cref="Projector"/> multiplies (vLLM plugs quantization in per linear layer the same way),
/// so a model's forward pass never looks at the format. Decode-sized batches go to the managed kernels, which widen
/// each element to float32 as they read it (<see cref="WeightElements"/>); larger batches go through LibTorch's GEMM,
/// with anything but a same-dtype dense weight widened one block of rows at a time (<see cref="Linear"/>), so no
/// full-size float copy of a weight ever exists. The tensors are not owned: they belong to the model's parameters.
/// </summary>
public sealed class WeightMatrix
{
    /// <summary>Rows widened per LibTorch GEMM call when the weight is not already in the activations' dtype: a
    /// few MiB of float32, so the temporary stays in cache-friendly sizes whatever the matrix (lm_head of a 128k vocab
    /// included).</summary>
    private const long BlockBytes = 4L << 20;

    private WeightMatrix(Tensor data, WeightFormat format, Tensor? scales)
    {
        if (data.dim() != 2) throw new ArgumentException($"a weight matrix is 2-D, got [{string.Join(", ", data.shape)}]");
        Data = data;
        Format = format;
        Scales = scales;
        Rows = data.shape[0];
        Columns = data.shape[1];
        GroupSize = (int)Columns;
        if (scales is null) return;
        if (scales.dtype != ScalarType.Float32 || scales.dim() != 2 || scales.shape[0] != Rows || Columns % scales.shape[1] != 0 || !scales.is_contiguous())
            throw new ArgumentException($"scales of a [{Rows}, {Columns}] int8 weight must be contiguous float32 [{Rows}, groups] with groups dividing {Columns}; " +
                                        $"got {scales.dtype} [{string.Join(", ", scales.shape)}]");
        GroupSize = (int)(Columns / scales.shape[1]);
    }

    /// <summary>A float32, bfloat16 or float16 [out, in] weight.</summary>
    public static WeightMatrix Dense(Tensor weight) => new(weight, weight.dtype switch
    {
        ScalarType.Float32 => WeightFormat.Float32,
        ScalarType.BFloat16 => WeightFormat.BFloat16,
        ScalarType.Float16 => WeightFormat.Float16,
        var t => throw new ArgumentException($"a dense weight is float32, bfloat16 or float16, not {t}"),
    }, null);

    /// <summary>8-bit weights: int8 values, or bytes offset by 128 (uint8), with float32 scales [out, groups].</summary>
    public static WeightMatrix Quantized(Tensor data, Tensor scales) => new(data, data.dtype switch
    {
        ScalarType.Int8 => WeightFormat.Int8,
        ScalarType.Byte => WeightFormat.UInt8Offset128,
        var t => throw new ArgumentException($"quantized weight data is int8 or uint8, not {t}"),
    }, scales);

    /// <summary>Whether a checkpoint tensor holds quantized values (and so needs its weight_scale).</summary>
    public static bool IsQuantizedData(Tensor t) => t.dtype is ScalarType.Int8 or ScalarType.Byte;

    public static WeightMatrix From(Tensor weight, Tensor? scales) => scales is null ? Dense(weight) : Quantized(weight, scales);

    public Tensor Data { get; }
    public WeightFormat Format { get; }

    /// <summary>float32 [out, groups] for the 8-bit formats; null for dense weights.</summary>
    public Tensor? Scales { get; }

    /// <summary>Input columns per scale: in for per-channel scales (and dense weights), else the group size.</summary>
    public int GroupSize { get; }

    public long Rows { get; }
    public long Columns { get; }
    public bool IsQuantized => Scales is not null;
    public long Bytes => Data.NumberOfElements * Data.ElementSize + (Scales is null ? 0 : Scales.NumberOfElements * 4);

    /// <summary>What the managed kernels need: contiguous CPU data.</summary>
    internal bool SuitsManagedKernel => Data.device_type == TorchSharp.DeviceType.CPU && Data.is_contiguous();

    /// <summary>
    /// y = x W^T through LibTorch. A dense weight in x's dtype goes to the GEMM as it is (differentiable, for
    /// training); anything else is widened to x's dtype in blocks of rows, each multiplied and then dropped.
    /// </summary>
    public unsafe Tensor Linear(Tensor x)
    {
        if (!IsQuantized && Data.dtype == x.dtype) return F.linear(x, Data);
        var rowsPerBlock = Math.Max(1, BlockBytes / (Columns * 4));
        if (x.dtype == ScalarType.Float32 && x.device_type == TorchSharp.DeviceType.CPU && SuitsManagedKernel && System.Runtime.Intrinsics.X86.Avx2.IsSupported)
        {
            // Blocks of rows widened into one reused buffer (a fresh allocation per block would cost more in page
            // faults than the widening itself), each multiplied by LibTorch's GEMM into its columns of the output.
            rowsPerBlock = Math.Min(rowsPerBlock, Rows);
            var buffer = BlockBuffer(rowsPerBlock * Columns);
            var y = empty(x.shape.SkipLast(1).Append(Rows).ToArray(), ScalarType.Float32);
            using var flatX = x.reshape(-1, Columns);
            using var flatY = y.view(-1, Rows);
            for (long first = 0; first < Rows; first += rowsPerBlock)
            {
                var count = Math.Min(rowsPerBlock, Rows - first);
                using var block = buffer.narrow(0, 0, count * Columns).view(count, Columns);
                WidenRows(first, count, TensorData.Float(block));
                using var part = F.linear(flatX, block);
                using var target = flatY.narrow(1, first, count);
                target.copy_(part);
            }
            return y;
        }
        if (rowsPerBlock >= Rows)
        {
            using var w = Dequantize(0, Rows, x.dtype);
            return F.linear(x, w);
        }
        var parts = new List<Tensor>();
        try
        {
            for (long first = 0; first < Rows; first += rowsPerBlock)
            {
                using var w = Dequantize(first, Math.Min(rowsPerBlock, Rows - first), x.dtype);
                parts.Add(F.linear(x, w));
            }
            return cat(parts, -1);
        }
        finally
        {
            foreach (var p in parts) p.Dispose();
        }
    }

    /// <summary>Rows [first, first + count) as <paramref name="dtype"/> [count, in] (a new tensor).</summary>
    public unsafe Tensor Dequantize(long first, long count, ScalarType dtype)
    {
        if (SuitsManagedKernel && System.Runtime.Intrinsics.X86.Avx2.IsSupported)
        {
            // LibTorch widens bfloat16 (or int8 times scales) at ~1 GB/s on one thread here; the kernels' element
            // readers do it at ~6 GB/s on the calling thread.
            var widened = empty([count, Columns], ScalarType.Float32);
            WidenRows(first, count, TensorData.Float(widened));
            if (dtype == ScalarType.Float32) return widened;
            using (widened) return widened.to(dtype);
        }
        using var scope = NewDisposeScope();
        var rows = Data.narrow(0, first, count);
        if (!IsQuantized) return rows.to(dtype, copy: true).MoveToOuterDisposeScope();
        var values = rows.to(ScalarType.Float32);
        if (Format == WeightFormat.UInt8Offset128) values = values.sub_(128);
        var scales = Scales!.narrow(0, first, count);
        var groups = scales.shape[1];
        var w = groups == 1 ? values.mul_(scales) : values.view(count, groups, GroupSize).mul_(scales.unsqueeze(-1)).view(count, Columns);
        return (dtype == ScalarType.Float32 ? w : w.to(dtype)).MoveToOuterDisposeScope();
    }

    /// <summary>The calling thread's widening buffer (the model runs on one thread), grown as needed, never shrunk.</summary>
    private static Tensor BlockBuffer(long elements)
    {
        if (_blockBuffer is null || _blockBuffer.shape[0] < elements)
        {
            _blockBuffer?.Dispose();
            // Outlives any dispose scope of the call that first needed it.
            _blockBuffer = empty(elements, ScalarType.Float32).DetachFromDisposeScope();
        }
        return _blockBuffer;
    }

    [ThreadStatic] private static Tensor? _blockBuffer;

    /// <summary>
    /// Rows [first, first + count) widened to float32 into <paramref name="destination"/> (row-major), on the calling
    /// thread: between two GEMMs LibTorch's OpenMP workers still spin, so more threads here would only fight them.
    /// </summary>
    private unsafe void WidenRows(long first, long count, float* destination)
    {
        var data = (byte*)TensorData.Pointer(Data);
        var scales = Scales is null ? null : TensorData.Float(Scales);
        var columns = (int)Columns;
        var groupSize = GroupSize;
        var format = Format;
        {
            var start = first;
            var rows = (int)count;
            var dst = destination;
            var rowScales = scales is null ? null : scales + start * (columns / groupSize);
            switch (format)
            {
                case WeightFormat.Float32: Widening.Rows<Float32Elements>(data + start * columns * 4, rows, columns, null, groupSize, dst); break;
                case WeightFormat.BFloat16: Widening.Rows<BFloat16Elements>(data + start * columns * 2, rows, columns, null, groupSize, dst); break;
                case WeightFormat.Float16: Widening.Rows<Float16Elements>(data + start * columns * 2, rows, columns, null, groupSize, dst); break;
                case WeightFormat.Int8: Widening.Rows<Int8Elements>(data + start * columns, rows, columns, rowScales, groupSize, dst); break;
                case WeightFormat.UInt8Offset128: Widening.Rows<UInt8Offset128Elements>(data + start * columns, rows, columns, rowScales, groupSize, dst); break;
            }
        }
    }

    /// <summary>Rows by index as <paramref name="dtype"/> [..ids.shape, in]: the embedding lookup of any format.</summary>
    public Tensor Gather(Tensor ids, ScalarType dtype)
    {
        using var scope = NewDisposeScope();
        var flat = ids.reshape(-1);
        var shape = ids.shape.Append(Columns).ToArray();
        var rows = Data.index_select(0, flat);
        if (!IsQuantized) return (rows.dtype == dtype ? rows : rows.to(dtype)).view(shape).MoveToOuterDisposeScope();
        var values = rows.to(ScalarType.Float32);
        if (Format == WeightFormat.UInt8Offset128) values = values.sub_(128);
        var scales = Scales!.index_select(0, flat);
        var groups = scales.shape[1];
        var n = flat.shape[0];
        var w = groups == 1 ? values.mul_(scales) : values.view(n, groups, GroupSize).mul_(scales.unsqueeze(-1)).view(n, Columns);
        return (dtype == ScalarType.Float32 ? w : w.to(dtype)).view(shape).MoveToOuterDisposeScope();
    }

    /// <summary>For logs and /health: "bfloat16", "int8 per-channel", "int8 group 128".</summary>
    public string Describe() => Format switch
    {
        WeightFormat.Float32 => "float32",
        WeightFormat.BFloat16 => "bfloat16",
        WeightFormat.Float16 => "float16",
        _ => GroupSize == Columns ? "int8 per-channel" : $"int8 group {GroupSize}",
    };
}
