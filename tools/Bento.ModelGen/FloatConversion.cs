using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace Bento.ModelGen;

/// <summary>
/// float32 to float16 / bfloat16 conversion and little-endian encoding of float runs.
/// </summary>
public static class FloatConversion
{
    /// <summary>IEEE binary16 bits of <paramref name="value"/>, rounded to nearest even
    /// (<see cref="Half"/>'s conversion does exactly that).</summary>
    public static ushort ToFloat16Bits(float value) => BitConverter.HalfToUInt16Bits((Half)value);

    /// <summary>bfloat16 bits of <paramref name="value"/>: the top 16 bits of the float32, rounded to
    /// nearest with ties to even, as PyTorch does. NaN stays a (quiet) NaN instead of rounding into
    /// infinity.</summary>
    public static ushort ToBFloat16Bits(float value)
    {
        var bits = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value))
            return (ushort)((bits >> 16) | 0x0040);
        // Adding 0x7FFF plus the lowest kept bit rounds the dropped half to nearest, ties to even.
        var lsb = (bits >> 16) & 1;
        return (ushort)((bits + 0x7FFFu + lsb) >> 16);
    }

    /// <summary>Value of a bfloat16 bit pattern (exact: bfloat16 is a truncated float32).</summary>
    public static float FromBFloat16Bits(ushort bits) => BitConverter.UInt32BitsToSingle((uint)bits << 16);

    /// <summary>Value of an IEEE binary16 bit pattern.</summary>
    public static float FromFloat16Bits(ushort bits) => (float)BitConverter.UInt16BitsToHalf(bits);

    /// <summary>Encodes <paramref name="values"/> as little-endian <paramref name="dtype"/> elements into
    /// <paramref name="destination"/>; returns the number of bytes written.</summary>
    public static int Encode(ReadOnlySpan<float> values, string dtype, Span<byte> destination)
    {
        var size = SafetensorsDType.ElementSize(dtype);
        var byteCount = values.Length * size;
        if (destination.Length < byteCount)
            throw new ArgumentException($"destination holds {destination.Length} bytes, need {byteCount}", nameof(destination));

        switch (dtype)
        {
            case SafetensorsDType.F32 when BitConverter.IsLittleEndian:
                // float32 in memory already is the file format on little-endian machines.
                MemoryMarshal.AsBytes(values).CopyTo(destination);
                break;
            case SafetensorsDType.F32:
                for (var i = 0; i < values.Length; i++)
                    BinaryPrimitives.WriteSingleLittleEndian(destination[(i * 4)..], values[i]);
                break;
            case SafetensorsDType.F16:
                for (var i = 0; i < values.Length; i++)
                    BinaryPrimitives.WriteUInt16LittleEndian(destination[(i * 2)..], ToFloat16Bits(values[i]));
                break;
            default:
                for (var i = 0; i < values.Length; i++)
                    BinaryPrimitives.WriteUInt16LittleEndian(destination[(i * 2)..], ToBFloat16Bits(values[i]));
                break;
        }
        return byteCount;
    }
}
