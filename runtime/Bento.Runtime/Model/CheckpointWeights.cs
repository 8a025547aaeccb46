using static TorchSharp.torch;

namespace Bento.Runtime.Model;

/// <summary>
/// Tensors of a checkpoint by the names the model asks for, with compressed-tensors' 8-bit layouts mapped onto them:
/// "X.weight" of a pack-quantized layer is its "X.weight_packed" int32 words read as the [out, in] bytes they hold
/// (q + 128, see <see cref="WeightFormat.UInt8Offset128"/>; no copy); an int-quantized layer's "X.weight" is int8
/// already. "X.weight_scale" comes as [out, groups] (float, converted by the caller). A weight_zero_point, which
/// symmetric checkpoints may carry, must be all zeros.
/// </summary>
public sealed class CheckpointWeights(SafetensorsCheckpoint checkpoint)
{
    public Tensor Get(string name)
    {
        if (name.EndsWith(".weight", StringComparison.Ordinal) && !checkpoint.Contains(name)
            && checkpoint.Contains(name + "_packed"))
            return Packed(name[..^".weight".Length]);
        var t = checkpoint.Get(name);
        if (name.EndsWith(".weight_scale", StringComparison.Ordinal))
        {
            RequireZeroPoints(name[..^"_scale".Length] + "_zero_point");
            if (t.dim() == 1) return t.unsqueeze(1);
        }
        return t;
    }

    private Tensor Packed(string stem)
    {
        var packed = checkpoint.Describe(stem + ".weight_packed");
        if (packed.DType != "I32" || packed.Shape.Length != 2)
            throw new InvalidDataException($"'{stem}.weight_packed' is {packed.DType} [{string.Join(", ", packed.Shape)}]; compressed-tensors packs 8-bit weights into I32 [out, in / 4]");
        long rows = packed.Shape[0], columns = packed.Shape[1] * 4;
        if (checkpoint.Contains(stem + ".weight_shape"))
        {
            using var declared = checkpoint.Get(stem + ".weight_shape").to(ScalarType.Int64);
            var shape = declared.data<long>().ToArray();
            if (shape.Length != 2 || shape[0] != rows || shape[1] != columns)
                throw new InvalidDataException($"'{stem}.weight_shape' says [{string.Join(", ", shape)}] but '{stem}.weight_packed' holds [{rows}, {columns}] " +
                                               "(8-bit rows must be a multiple of 4 columns: padded rows are not supported)");
        }
        return checkpoint.GetBytes(stem + ".weight_packed", [rows, columns]);
    }

    private void RequireZeroPoints(string name)
    {
        if (!checkpoint.Contains(name)) return;
        using var zp = checkpoint.Get(name);
        using var nonZero = zp.ne(0).any();
        if (nonZero.item<bool>())
            throw new InvalidDataException($"'{name}' is not all zeros: asymmetric int8 weights are not supported (symmetric only)");
    }
}
