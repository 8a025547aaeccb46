using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Bento.Runtime.Model;

/// <summary>
/// exp, silu and tanh on 8 float32 lanes for the decode loops (softmax, SwiGLU, GeGLU). .NET 10's
/// <c>Vector256.Exp</c> is exact to the last bit but slower here than calling <c>MathF.Exp</c> per element (~12 ns per
/// vector measured), while decode runs some 10^5 of them per token; this is the classic range reduction
/// exp(x) = 2^n * exp(r), |r| &lt;= ln(2)/2, with a degree-6 polynomial (Cephes' expf coefficients): relative error
/// below 2e-7 (a float32 ulp or two), about 1 ns per vector.
/// </summary>
internal static class VectorMath
{
    // ln 2 split in two so that n * Ln2Hi is exact for the n that occur (|n| <= 128).
    private const float Ln2Hi = 0.693359375f, Ln2Lo = -2.12194440e-4f, Log2E = 1.44269504088896341f;
    // ln(float.MaxValue) and ln(smallest normal float32).
    private const float MaxInput = 88.7228391f, MinInput = -87.3365448f;

    /// <summary>e^x per lane; +inf above ln(float.MaxValue), 0 below ln(2^-126) (no subnormal results), NaN for NaN.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Exp(Vector256<float> x)
    {
        var clamped = Vector256.Max(Vector256.Min(x, Vector256.Create(MaxInput)), Vector256.Create(MinInput));
        var n = Vector256.Round(clamped * Vector256.Create(Log2E));
        var r = clamped - n * Vector256.Create(Ln2Hi) - n * Vector256.Create(Ln2Lo);
        var p = Vector256.Create(1.9875691500e-4f);
        p = p * r + Vector256.Create(1.3981999507e-3f);
        p = p * r + Vector256.Create(8.3334519073e-3f);
        p = p * r + Vector256.Create(4.1665795894e-2f);
        p = p * r + Vector256.Create(1.6666665459e-1f);
        p = p * r + Vector256.Create(5.0000001201e-1f);
        var er = p * (r * r) + r + Vector256<float>.One;
        // 2^n as 2^(n/2) * 2^(n - n/2): n runs from -126 to 128, and 2^128 alone is not a float32.
        var ni = Vector256.ConvertToInt32(n);
        var half = Vector256.ShiftRightArithmetic(ni, 1);
        var result = er * Vector256.ShiftLeft(half + Vector256.Create(127), 23).AsSingle()
                        * Vector256.ShiftLeft(ni - half + Vector256.Create(127), 23).AsSingle();
        result = Vector256.ConditionalSelect(Vector256.LessThan(x, Vector256.Create(MinInput)), Vector256<float>.Zero, result);
        result = Vector256.ConditionalSelect(Vector256.GreaterThan(x, Vector256.Create(MaxInput)), Vector256.Create(float.PositiveInfinity), result);
        // Min/Max above may have replaced a NaN: give it back.
        return Vector256.ConditionalSelect(Vector256.Equals(x, x), result, x);
    }

    /// <summary>x * sigmoid(x) = x / (1 + e^-x).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Silu(Vector256<float> x) => x / (Vector256<float>.One + Exp(-x));

    /// <summary>tanh(x) = 1 - 2 / (e^2x + 1) (saturates to +-1 where e^2x over- or underflows).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Tanh(Vector256<float> x) =>
        Vector256<float>.One - Vector256.Create(2f) / (Exp(x + x) + Vector256<float>.One);
}
