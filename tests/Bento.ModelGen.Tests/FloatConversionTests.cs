namespace Bento.ModelGen.Tests;

public class FloatConversionTests
{
    [Theory]
    [InlineData(0.0f, 0x0000)]
    [InlineData(-0.0f, 0x8000)]
    [InlineData(1.0f, 0x3C00)]
    [InlineData(-2.0f, 0xC000)]
    [InlineData(0.5f, 0x3800)]
    [InlineData(65504.0f, 0x7BFF)]          // largest finite half
    [InlineData(65520.0f, 0x7C00)]          // halfway to the next power rounds to infinity
    [InlineData(0.1f, 0x2E66)]
    [InlineData(5.9604645e-8f, 0x0001)]     // smallest subnormal half, 2^-24
    [InlineData(float.PositiveInfinity, 0x7C00)]
    [InlineData(1.0009765625f, 0x3C01)]     // 1 + 2^-10 is exact
    [InlineData(1.00048828125f, 0x3C00)]    // 1 + 2^-11 is a tie: rounds to even (down)
    [InlineData(1.00146484375f, 0x3C02)]    // 1 + 3*2^-11 is a tie: rounds to even (up)
    public void Float16KnownValues(float value, int expectedBits) =>
        Assert.Equal((ushort)expectedBits, FloatConversion.ToFloat16Bits(value));

    [Theory]
    [InlineData(0x00000000u, 0x0000)]
    [InlineData(0x3F800000u, 0x3F80)]        // 1.0
    [InlineData(0xC0000000u, 0xC000)]        // -2.0
    [InlineData(0x40490FDBu, 0x4049)]        // pi: dropped half 0x0FDB < 0x8000 rounds down
    [InlineData(0x3F808000u, 0x3F80)]        // exact tie, kept lsb 0: stays (even)
    [InlineData(0x3F818000u, 0x3F82)]        // exact tie, kept lsb 1: rounds up to even
    [InlineData(0x3F808001u, 0x3F81)]        // just above the tie: rounds up
    [InlineData(0x3F807FFFu, 0x3F80)]        // just below the tie: rounds down
    [InlineData(0x7F7FFFFFu, 0x7F80)]        // float max rounds to infinity
    [InlineData(0x7F800000u, 0x7F80)]        // infinity
    [InlineData(0xFF800000u, 0xFF80)]        // -infinity
    public void BFloat16KnownValues(uint floatBits, int expectedBits) =>
        Assert.Equal((ushort)expectedBits, FloatConversion.ToBFloat16Bits(BitConverter.UInt32BitsToSingle(floatBits)));

    [Fact]
    public void BFloat16KeepsNaNAsNaN()
    {
        // A NaN whose payload sits only in the low bits must not round into infinity.
        var nan = BitConverter.UInt32BitsToSingle(0x7F800001u);
        Assert.True(float.IsNaN(FloatConversion.FromBFloat16Bits(FloatConversion.ToBFloat16Bits(nan))));
        Assert.True(float.IsNaN(FloatConversion.FromBFloat16Bits(FloatConversion.ToBFloat16Bits(float.NaN))));
    }

    [Fact]
    public void BFloat16RoundTripIsWithinHalfAnUlp()
    {
        var random = new DeterministicRandom(1);
        for (var i = 0; i < 10_000; i++)
        {
            var x = (float)random.NextGaussian();
            var back = FloatConversion.FromBFloat16Bits(FloatConversion.ToBFloat16Bits(x));
            // bfloat16 keeps 8 significant bits, so rounding to nearest moves a value by at most half a
            // unit in the last place: 2^-8 of the power of two at or below |x|.
            var halfUlp = Math.Pow(2, Math.Floor(Math.Log2(Math.Abs(x))) - 8);
            Assert.True(Math.Abs(back - x) <= halfUlp, $"{x} -> {back}");
        }
    }

    [Fact]
    public void EncodeWritesLittleEndianElements()
    {
        float[] values = [1.0f, -2.0f];
        var f32 = new byte[8];
        var f16 = new byte[4];
        var bf16 = new byte[4];
        Assert.Equal(8, FloatConversion.Encode(values, "F32", f32));
        Assert.Equal(4, FloatConversion.Encode(values, "F16", f16));
        Assert.Equal(4, FloatConversion.Encode(values, "BF16", bf16));
        Assert.Equal(new byte[] { 0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x00, 0xC0 }, f32);
        Assert.Equal(new byte[] { 0x00, 0x3C, 0x00, 0xC0 }, f16);
        Assert.Equal(new byte[] { 0x80, 0x3F, 0x00, 0xC0 }, bf16);
    }

    [Fact]
    public void EncodeRejectsUnknownDtypeAndShortBuffer()
    {
        Assert.Throws<ArgumentException>(() => FloatConversion.Encode([1f], "F64", new byte[8]));
        Assert.Throws<ArgumentException>(() => FloatConversion.Encode([1f, 2f], "F32", new byte[7]));
    }
}
