namespace Bento.ModelGen;

/// <summary>
/// xoshiro256** pseudo-random generator seeded through SplitMix64.
/// </summary>
/// <remarks>
/// We own the algorithm instead of using <see cref="System.Random"/> because the runtime may change
/// Random's algorithm between versions, and generated model folders must be byte-identical on every
/// machine and every .NET version. The Gaussian path only uses IEEE-exact operations
/// (see <see cref="PortableMath"/>) for the same reason.
/// </remarks>
public sealed class DeterministicRandom
{
    private ulong _s0, _s1, _s2, _s3;
    private double _spareGaussian;
    private bool _hasSpareGaussian;

    public DeterministicRandom(ulong seed)
    {
        // SplitMix64 expands one 64-bit seed into the 256-bit state; it never yields the all-zero state
        // that xoshiro cannot leave.
        var x = seed;
        _s0 = SplitMix64(ref x);
        _s1 = SplitMix64(ref x);
        _s2 = SplitMix64(ref x);
        _s3 = SplitMix64(ref x);
    }

    /// <summary>Next 64 uniformly distributed bits.</summary>
    public ulong NextUInt64()
    {
        var result = RotateLeft(_s1 * 5, 7) * 9;
        var t = _s1 << 17;
        _s2 ^= _s0;
        _s3 ^= _s1;
        _s1 ^= _s2;
        _s0 ^= _s3;
        _s2 ^= t;
        _s3 = RotateLeft(_s3, 45);
        return result;
    }

    /// <summary>Uniform integer in [0, exclusiveMax).</summary>
    public int NextInt(int exclusiveMax)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(exclusiveMax);
        // Multiply-shift maps 32 random bits onto the range; the bias (< 2^-32 * max) is irrelevant here
        // and the result stays a pure function of the state.
        return (int)(((NextUInt64() >> 32) * (ulong)exclusiveMax) >> 32);
    }

    /// <summary>Uniform integer in [inclusiveMin, exclusiveMax).</summary>
    public int NextInt(int inclusiveMin, int exclusiveMax) => inclusiveMin + NextInt(exclusiveMax - inclusiveMin);

    /// <summary>Uniform float in [0, 1) with 24 bits of precision (every value exactly representable).</summary>
    public float NextFloat() => (NextUInt64() >> 40) * (1.0f / (1 << 24));

    /// <summary>Uniform double in [0, 1) with 53 bits of precision.</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Standard normal sample (mean 0, standard deviation 1) by the Box-Muller transform.</summary>
    public double NextGaussian()
    {
        if (_hasSpareGaussian)
        {
            _hasSpareGaussian = false;
            return _spareGaussian;
        }

        // u1 in (0, 1] so the logarithm is finite; u2 in [0, 1) is the angle as a fraction of a turn.
        var u1 = ((NextUInt64() >> 11) + 1) * (1.0 / (1UL << 53));
        var u2 = NextDouble();
        var radius = Math.Sqrt(-2.0 * PortableMath.Log(u1));
        var (sin, cos) = PortableMath.SinCosOfTurns(u2);
        _spareGaussian = radius * sin;
        _hasSpareGaussian = true;
        return radius * cos;
    }

    private static ulong SplitMix64(ref ulong x)
    {
        x += 0x9E3779B97F4A7C15UL;
        var z = x;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    private static ulong RotateLeft(ulong value, int count) => (value << count) | (value >> (64 - count));
}
