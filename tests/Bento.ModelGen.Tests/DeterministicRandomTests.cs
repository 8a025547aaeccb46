namespace Bento.ModelGen.Tests;

public class DeterministicRandomTests
{
    [Fact]
    public void SameSeedGivesSameSequenceAndDifferentSeedsDiffer()
    {
        var a = new DeterministicRandom(42);
        var b = new DeterministicRandom(42);
        var c = new DeterministicRandom(43);
        var fromA = Enumerable.Range(0, 100).Select(_ => a.NextUInt64()).ToArray();
        Assert.Equal(fromA, Enumerable.Range(0, 100).Select(_ => b.NextUInt64()));
        Assert.NotEqual(fromA, Enumerable.Range(0, 100).Select(_ => c.NextUInt64()));
    }

    [Fact]
    public void SeedZeroStillProducesVariedOutput()
    {
        // xoshiro must never be in its all-zero state; SplitMix64 seeding guarantees that.
        var random = new DeterministicRandom(0);
        var values = Enumerable.Range(0, 16).Select(_ => random.NextUInt64()).ToHashSet();
        Assert.Equal(16, values.Count);
    }

    [Fact]
    public void FirstOutputsArePinned()
    {
        // Guards the algorithm itself: committed example weights depend on these exact bits.
        var random = new DeterministicRandom(42);
        var first = Enumerable.Range(0, 3).Select(_ => random.NextUInt64().ToString("X16")).ToArray();
        Assert.Equal(PinnedFirstOutputs, first);
    }

    // xoshiro256** seeded by SplitMix64(42), computed by a separate transcription of the reference C
    // code (Blackman & Vigna) into Python with 64-bit masking.
    private static readonly string[] PinnedFirstOutputs = ["15780B2E0C2EC716", "6104D9866D113A7E", "AE17533239E499A1"];

    [Fact]
    public void NextFloatIsInUnitIntervalAndUniform()
    {
        var random = new DeterministicRandom(7);
        var buckets = new int[10];
        for (var i = 0; i < 100_000; i++)
        {
            var x = random.NextFloat();
            Assert.InRange(x, 0f, 0.99999995f);
            buckets[(int)(x * 10)]++;
        }
        Assert.All(buckets, count => Assert.InRange(count, 9_500, 10_500));
    }

    [Fact]
    public void NextIntStaysInRange()
    {
        var random = new DeterministicRandom(3);
        var seen = new HashSet<int>();
        for (var i = 0; i < 10_000; i++)
        {
            var x = random.NextInt(5, 12);
            Assert.InRange(x, 5, 11);
            seen.Add(x);
        }
        Assert.Equal(7, seen.Count);
    }

    [Fact]
    public void NextGaussianHasMeanZeroAndUnitVariance()
    {
        var random = new DeterministicRandom(11);
        const int n = 200_000;
        double sum = 0, sumSquares = 0;
        var beyondTwoSigma = 0;
        for (var i = 0; i < n; i++)
        {
            var x = random.NextGaussian();
            sum += x;
            sumSquares += x * x;
            if (Math.Abs(x) > 2)
                beyondTwoSigma++;
        }
        var mean = sum / n;
        var variance = sumSquares / n - mean * mean;
        Assert.InRange(mean, -0.01, 0.01);
        Assert.InRange(variance, 0.98, 1.02);
        // A normal distribution puts 4.55% of its mass beyond two standard deviations.
        Assert.InRange(beyondTwoSigma / (double)n, 0.043, 0.048);
    }

    [Fact]
    public void PortableLogMatchesTheRuntimeLog()
    {
        var random = new DeterministicRandom(5);
        foreach (var x in new[] { 1.0, 0.5, 2.0, 1e-300, 0.999999, 1.4142135623730951, 1.4142135623730954, double.Epsilon * 1e10 * (1L << 52) })
            AssertClose(Math.Log(x), PortableMath.Log(x));
        for (var i = 0; i < 10_000; i++)
        {
            var x = ((random.NextUInt64() >> 11) + 1) * (1.0 / (1UL << 53));
            AssertClose(Math.Log(x), PortableMath.Log(x));
        }
    }

    [Fact]
    public void PortableSinCosMatchTheRuntime()
    {
        var random = new DeterministicRandom(6);
        var turns = Enumerable.Range(0, 10_000).Select(_ => random.NextDouble())
            .Concat([0.0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 0.9999999999]);
        foreach (var t in turns)
        {
            var (sin, cos) = PortableMath.SinCosOfTurns(t);
            Assert.Equal(Math.Sin(2 * Math.PI * t), sin, 1e-14);
            Assert.Equal(Math.Cos(2 * Math.PI * t), cos, 1e-14);
        }
    }

    private static void AssertClose(double expected, double actual) =>
        Assert.True(Math.Abs(expected - actual) <= 1e-15 * Math.Max(1, Math.Abs(expected)), $"expected {expected:R}, got {actual:R}");
}
