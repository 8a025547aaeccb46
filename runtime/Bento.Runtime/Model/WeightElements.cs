using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Bento.Runtime.Model;

/// <summary>
/// How the decode kernel (<see cref="Projector.RowDots{T}"/>) reads one storage format: 8 consecutive elements widened
/// to float32 with AVX2, or one element. The kernel is generic over these structs, so the JIT compiles one
/// specialised loop per format with the widening inlined (no calls, no branches on the format inside the loop).
/// </summary>
/// <remarks>
/// Widening costs a zero/sign-extending load (vpmovzxwd / vpmovsxbd) plus one or two ALU operations per 8 elements;
/// at batch 1 a core does that far faster than memory delivers the bytes, so decode speed follows the bytes per
/// weight: bfloat16 reads half of float32, int8 a quarter. .NET 10 exposes neither F16C (vcvtph2ps) nor AVX512_BF16
/// (vdpbf16ps), so float16 is widened with integer operations and bfloat16 by a shift; AVX2 is all these need.
/// </remarks>
internal unsafe interface IWeightElements
{
    /// <summary>Bytes per element.</summary>
    static abstract int Size { get; }

    /// <summary>Elements p[0..8) as float32.</summary>
    static abstract Vector256<float> Load8(byte* p);

    /// <summary>Element p[0] as float32.</summary>
    static abstract float Load1(byte* p);
}

internal unsafe struct Float32Elements : IWeightElements
{
    public static int Size => 4;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load8(byte* p) => Vector256.Load((float*)p);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Load1(byte* p) => *(float*)p;
}

/// <summary>bfloat16 is the top half of a float32: widen each 16-bit value into the top of a 32-bit lane.</summary>
internal unsafe struct BFloat16Elements : IWeightElements
{
    public static int Size => 2;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load8(byte* p) => Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32((ushort*)p), 16).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Load1(byte* p) => BitConverter.Int32BitsToSingle(*(ushort*)p << 16);
}

/// <summary>
/// IEEE half to float32 with integer operations: move exponent and mantissa into place and rebias (normals), or add
/// them to 2^-14 and subtract it (subnormals, without ever forming a float32 subnormal, which would be slow);
/// infinities and NaNs keep an all-ones exponent.
/// </summary>
internal unsafe struct Float16Elements : IWeightElements
{
    public static int Size => 2;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load8(byte* p)
    {
        var h = Avx2.ConvertToVector256Int32((ushort*)p);
        var magnitude = h & Vector256.Create(0x7FFF);
        var sign = Avx2.ShiftLeftLogical(h ^ magnitude, 16);
        var shifted = Avx2.ShiftLeftLogical(magnitude, 13);
        var normal = (shifted + Vector256.Create(0x38000000)).AsSingle();                          // exponent + (127 - 15)
        var subnormal = (shifted | Vector256.Create(0x38800000)).AsSingle() - Vector256.Create(1f / 16384); // m * 2^-24
        var special = (shifted | Vector256.Create(0x7F800000)).AsSingle();                          // inf / NaN
        var value = Avx.BlendVariable(normal, subnormal, Avx2.CompareGreaterThan(Vector256.Create(0x400), magnitude).AsSingle());
        value = Avx.BlendVariable(value, special, Avx2.CompareGreaterThan(magnitude, Vector256.Create(0x7BFF)).AsSingle());
        return (value.AsInt32() | sign).AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Load1(byte* p) => (float)*(Half*)p;
}

internal unsafe struct Int8Elements : IWeightElements
{
    public static int Size => 1;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load8(byte* p) => Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32((sbyte*)p));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Load1(byte* p) => *(sbyte*)p;
}

/// <summary>Bytes holding q + 128 (compressed-tensors' packed 8-bit layout); the offset is removed exactly, in integers.</summary>
internal unsafe struct UInt8Offset128Elements : IWeightElements
{
    public static int Size => 1;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load8(byte* p) =>
        Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(p) - Vector256.Create(128));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Load1(byte* p) => *p - 128;
}

/// <summary>Whole rows widened to float32 (and multiplied by their scales): the non-GEMM part of a prefill with
/// weights that are not float32.</summary>
internal static unsafe class Widening
{
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Rows<T>(byte* source, int rows, int columns, float* scales, int groupSize, float* destination)
        where T : struct, IWeightElements
    {
        var groups = columns / groupSize;
        for (var r = 0; r < rows; r++)
        {
            var src = source + (long)r * columns * T.Size;
            var dst = destination + (long)r * columns;
            for (var g = 0; g < groups; g++)
            {
                var scale = scales is null ? 1f : scales[(long)r * groups + g];
                var factor = Vector256.Create(scale);
                int start = g * groupSize, end = start + groupSize, i = start;
                for (; i + 8 <= end; i += 8)
                {
                    var v = T.Load8(src + (long)i * T.Size);
                    (scales is null ? v : v * factor).Store(dst + i);
                }
                for (; i < end; i++) dst[i] = T.Load1(src + (long)i * T.Size) * scale;
            }
        }
    }
}
