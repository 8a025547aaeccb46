namespace Bento.ModelGen;

/// <summary>
/// Logarithm and sine/cosine built only from +, -, *, / and exact bit manipulation.
/// </summary>
/// <remarks>
/// <see cref="Math.Log(double)"/> and <see cref="Math.Sin"/> call the platform's C library, whose last-bit
/// results differ between glibc, musl, macOS and Windows. IEEE 754 requires the basic operations (and
/// <see cref="Math.Sqrt"/>) to be correctly rounded, so polynomials evaluated with them give the same bits
/// everywhere, which keeps generated weights byte-identical across machines. RyuJIT never fuses a*b+c
/// into an FMA on its own, so evaluation order is exactly as written, and the coefficients are
/// compile-time constants. Accuracy (~1e-16 relative) is far beyond what float32 weights need.
/// The polynomials use Horner's scheme with no division in the loop, because the 1 GiB benchmark
/// model needs a quarter of a billion samples.
/// </remarks>
internal static class PortableMath
{
    private const double Ln2 = 0.6931471805599453094;
    private const double TwoPi = 6.283185307179586477;

    /// <summary>Natural logarithm of a positive, finite, normal double.</summary>
    public static double Log(double x)
    {
        if (!(x > 0) || !double.IsNormal(x))
            throw new ArgumentOutOfRangeException(nameof(x), x, "Log needs a positive, finite, normal number.");

        // x = m * 2^e with m in [1, 2): read the exponent from the bits, then force it to zero.
        var bits = BitConverter.DoubleToInt64Bits(x);
        var exponent = (int)((bits >> 52) & 0x7FF) - 1023;
        var mantissa = BitConverter.Int64BitsToDouble((bits & 0x000F_FFFF_FFFF_FFFFL) | 0x3FF0_0000_0000_0000L);
        // Centre m on 1 (m in [0.707, 1.414]) so the atanh series below converges fast.
        if (mantissa > 1.4142135623730951)
        {
            mantissa *= 0.5;
            exponent++;
        }

        // ln m = 2 atanh(s) = 2 (s + s^3/3 + s^5/5 + ...), s = (m - 1) / (m + 1), |s| <= 0.1716, so
        // s^2 <= 0.0295 and the terms up to s^23 leave an error below 1e-18.
        var s = (mantissa - 1.0) / (mantissa + 1.0);
        var z = s * s;
        var series = 2.0 / 23;
        series = series * z + 2.0 / 21;
        series = series * z + 2.0 / 19;
        series = series * z + 2.0 / 17;
        series = series * z + 2.0 / 15;
        series = series * z + 2.0 / 13;
        series = series * z + 2.0 / 11;
        series = series * z + 2.0 / 9;
        series = series * z + 2.0 / 7;
        series = series * z + 2.0 / 5;
        series = series * z + 2.0 / 3;
        series = series * z + 2.0;
        return s * series + exponent * Ln2;
    }

    /// <summary>sin and cos of the angle <paramref name="turns"/> * 2π, for turns in [0, 1).</summary>
    public static (double Sin, double Cos) SinCosOfTurns(double turns)
    {
        // Reduce to |r| <= π/4 around the nearest quarter turn; quarter is 0..4 and every step is exact
        // except the final multiply by 2π.
        var quarter = Math.Round(turns * 4.0, MidpointRounding.ToEven);
        var r = (turns - quarter * 0.25) * TwoPi;
        var z = r * r;

        // Taylor series in Horner form; with |r| <= 0.786 the first omitted terms (r^21/21!, r^20/20!)
        // are below 1e-19.
        var sin = -1.0 / 121645100408832000.0;         // -1/19!
        sin = sin * z + 1.0 / 355687428096000.0;         // 1/17!
        sin = sin * z - 1.0 / 1307674368000.0;           // -1/15!
        sin = sin * z + 1.0 / 6227020800.0;              // 1/13!
        sin = sin * z - 1.0 / 39916800.0;                // -1/11!
        sin = sin * z + 1.0 / 362880.0;                  // 1/9!
        sin = sin * z - 1.0 / 5040.0;                    // -1/7!
        sin = sin * z + 1.0 / 120.0;                     // 1/5!
        sin = sin * z - 1.0 / 6.0;                       // -1/3!
        sin = r + r * z * sin;

        var cos = 1.0 / 6402373705728000.0;              // 1/18!
        cos = cos * z - 1.0 / 20922789888000.0;          // -1/16!
        cos = cos * z + 1.0 / 87178291200.0;             // 1/14!
        cos = cos * z - 1.0 / 479001600.0;               // -1/12!
        cos = cos * z + 1.0 / 3628800.0;                 // 1/10!
        cos = cos * z - 1.0 / 40320.0;                   // -1/8!
        cos = cos * z + 1.0 / 720.0;                     // 1/6!
        cos = cos * z - 1.0 / 24.0;                      // -1/4!
        cos = cos * z + 0.5;                             // 1/2!
        cos = 1.0 - z * cos;

        return ((int)quarter & 3) switch
        {
            0 => (sin, cos),
            1 => (cos, -sin),
            2 => (-sin, -cos),
            _ => (-cos, sin),
        };
    }
}
