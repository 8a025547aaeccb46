using System.Runtime.Intrinsics;
using Bento.Runtime.Model;
using static TorchSharp.torch;

namespace Bento.Runtime.Tests.Model;

/// <summary>
/// The decode loops' vector exp / silu / tanh against double-precision references over their whole range and at the
/// edges (overflow, underflow, infinities, NaN), and the managed small-batch ops that use them against LibTorch.
/// </summary>
public sealed unsafe class VectorMathTests
{
    private static float[] Lanes(Vector256<float> v) => [v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]];

    [Fact]
    public void Exp_is_within_two_float_ulps_over_the_normal_range()
    {
        var worst = 0.0;
        for (var x = -87.3; x <= 88.7; x += 0.0137)
        {
            var input = Vector256.Create((float)x, (float)(x / 3), (float)(x / 17), (float)(-x / 5), 0f, 1e-7f, -1e-7f, (float)(x / 1000));
            var got = Lanes(VectorMath.Exp(input));
            for (var l = 0; l < 8; l++)
            {
                var expected = Math.Exp(input[l]);
                worst = Math.Max(worst, Math.Abs(got[l] - expected) / expected);
            }
        }
        Assert.True(worst < 2.5e-7, $"worst relative error {worst}");
    }

    [Fact]
    public void Exp_saturates_underflows_and_keeps_nan()
    {
        var got = Lanes(VectorMath.Exp(Vector256.Create(float.PositiveInfinity, float.NegativeInfinity, float.NaN, 89f, -88f, -1000f, 88.72f, 0f)));
        Assert.Equal(float.PositiveInfinity, got[0]);
        Assert.Equal(0f, got[1]);
        Assert.True(float.IsNaN(got[2]));
        Assert.Equal(float.PositiveInfinity, got[3]);
        Assert.Equal(0f, got[4]); // below the smallest normal float: flushed, never subnormal
        Assert.Equal(0f, got[5]);
        Assert.True(float.IsFinite(got[6]) && Math.Abs(got[6] - Math.Exp(88.72f)) / Math.Exp(88.72f) < 3e-7, $"exp(88.72) = {got[6]}");
        Assert.Equal(1f, got[7]);
    }

    [Fact]
    public void Silu_and_tanh_match_double_references()
    {
        for (var x = -100.0; x <= 100.0; x += 0.0371)
        {
            var input = Vector256.Create((float)x, (float)(x / 10), (float)(x / 100), (float)(x / 1000), (float)-x, (float)(-x / 10), (float)(-x / 100), (float)(-x / 1000));
            var silu = Lanes(VectorMath.Silu(input));
            var tanh = Lanes(VectorMath.Tanh(input));
            for (var l = 0; l < 8; l++)
            {
                double v = input[l], s = v / (1 + Math.Exp(-v)), t = Math.Tanh(v);
                Assert.True(Math.Abs(silu[l] - s) <= 1e-6 * Math.Abs(s) + 1e-30, $"silu({v}) = {silu[l]}, expected {s}");
                // 1 - 2 / (e^2x + 1) loses relative precision near 0, where tanh's absolute error stays ~1e-7.
                Assert.True(Math.Abs(tanh[l] - t) <= 1e-6 * Math.Abs(t) + 1.2e-7, $"tanh({v}) = {tanh[l]}, expected {t}");
            }
        }
        Assert.Equal(Lanes(Vector256.Create(-1f)), Lanes(VectorMath.Tanh(Vector256.Create(float.NegativeInfinity))));
        Assert.Equal(Lanes(Vector256.Create(1f)), Lanes(VectorMath.Tanh(Vector256.Create(float.PositiveInfinity))));
    }

    /// <summary>RMSNorm, silu*up, gelu_tanh*up and the residual add on odd widths (a vector body and a scalar tail)
    /// against LibTorch's own ops.</summary>
    [Theory]
    [InlineData(1, 2048)]
    [InlineData(3, 203)]
    public void Small_batch_ops_match_libtorch(int rows, int width)
    {
        using var scope = NewDisposeScope();
        using var mode = inference_mode();
        var generator = new Generator(7);
        var x = randn([rows, width], generator: generator) * 3;
        var weight = randn([width], generator: generator);
        var gateUp = randn([rows, 2 * width], generator: generator) * 4;

        var norm = SmallBatchOps.RmsNorm(x, weight, 1e-6);
        var expectedNorm = x * (x.pow(2).mean([-1], keepdim: true) + 1e-6).rsqrt() * weight;
        AssertClose(expectedNorm, norm, 2e-6);

        var gate = gateUp.narrow(1, 0, width);
        var up = gateUp.narrow(1, width, width);
        AssertClose(nn.functional.silu(gate) * up, SmallBatchOps.SiluMul(gateUp, width), 2e-6);
        AssertClose(nn.functional.gelu(gate, TorchSharp.Modules.GELU.Approximate.tanh) * up, SmallBatchOps.GeluTanhMul(gateUp, width), 2e-6);

        var sum = x.clone();
        SmallBatchOps.AddInPlace(sum, norm);
        AssertClose(x + norm, sum, 0);
        Assert.Throws<ArgumentException>(() => SmallBatchOps.AddInPlace(x.clone(), gateUp)); // sizes differ
    }

    private static void AssertClose(Tensor expected, Tensor actual, double relative)
    {
        var e = expected.contiguous().data<float>().ToArray();
        var a = actual.contiguous().data<float>().ToArray();
        Assert.Equal(e.Length, a.Length);
        var scale = e.Max(Math.Abs);
        for (var i = 0; i < e.Length; i++)
            Assert.True(Math.Abs(e[i] - a[i]) <= relative * scale + 1e-7, $"element {i}: {a[i]}, expected {e[i]}");
    }
}
