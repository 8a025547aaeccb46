using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using static TorchSharp.torch;

namespace Bento.Runtime.Model;

/// <summary>
/// Managed float32 versions of the small element-wise steps of a decode step (a few rows of a few thousand values):
/// RMSNorm, rotary embedding, the residual add, SwiGLU's silu(gate) * up and GeGLU's gelu_tanh(gate) * up (the KV-cache write and decode
/// attention are in <see cref="PagedAttention"/>). In decode these ops touch kilobytes, so
/// LibTorch's fixed cost per op (dispatch, TensorIterator setup, a handle for TorchSharp) dominates their run time;
/// a plain loop over the raw buffers costs a fraction of that. <see cref="LlamaForCausalLM.ForwardStep"/> uses them
/// when <see cref="Applies"/> (CPU, float32, at most <see cref="Projector.MaxManagedRows"/> rows, contiguous) and the
/// LibTorch ops otherwise; tests check both paths give the same logits.
/// </summary>
internal static unsafe class SmallBatchOps
{
    public static bool Applies(Tensor x) =>
        x.dtype == ScalarType.Float32 && x.device_type == TorchSharp.DeviceType.CPU && x.dim() == 2
        && x.shape[0] <= Projector.MaxManagedRows && x.is_contiguous();

    /// <summary>x * rsqrt(mean(x^2) + eps) * weight, per row; float32 [N, H] -> new [N, H].</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static Tensor RmsNorm(Tensor x, Tensor weight, double eps)
    {
        int n = (int)x.shape[0], h = (int)x.shape[1];
        var y = empty([n, h], ScalarType.Float32);
        float* px = TensorData.Float(x), py = TensorData.Float(y), pw = TensorData.Float(weight);
        for (var r = 0; r < n; r++)
        {
            float* xr = px + (long)r * h, yr = py + (long)r * h;
            Vector256<float> a0 = default, a1 = default;
            var i = 0;
            for (; i + 16 <= h; i += 16)
            {
                var v0 = Vector256.Load(xr + i);
                var v1 = Vector256.Load(xr + i + 8);
                a0 += v0 * v0;
                a1 += v1 * v1;
            }
            double sum = Vector256.Sum(a0 + a1);
            for (; i < h; i++) sum += xr[i] * xr[i];
            var scale = (float)(1.0 / Math.Sqrt(sum / h + eps));
            var scaleV = Vector256.Create(scale);
            i = 0;
            for (; i + 8 <= h; i += 8)
                (Vector256.Load(pw + i) * (Vector256.Load(xr + i) * scaleV)).Store(yr + i);
            for (; i < h; i++)
                yr[i] = pw[i] * (xr[i] * scale);
        }
        return y;
    }

    /// <summary>a += b for float32 tensors of the same shape, both contiguous (the residual adds).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static Tensor AddInPlace(Tensor a, Tensor b)
    {
        if (!a.is_contiguous() || !b.is_contiguous() || a.numel() != b.numel())
            throw new ArgumentException("AddInPlace needs two contiguous tensors of one size");
        float* pa = TensorData.Float(a), pb = TensorData.Float(b);
        long count = a.numel(), i = 0;
        for (; i + 8 <= count; i += 8)
            (Vector256.Load(pa + i) + Vector256.Load(pb + i)).Store(pa + i);
        for (; i < count; i++) pa[i] += pb[i];
        return a;
    }

    /// <summary>
    /// Rotary embedding in place on the first <paramref name="headCount"/> heads of each row of
    /// <paramref name="qkv"/> ([N, columns], heads of <paramref name="headDim"/> side by side), rotate-half layout over
    /// the first <paramref name="rotaryDim"/> dimensions of each head (the rest untouched: Phi-4-mini's partial RoPE),
    /// angles from the [positions, rotary_dim] cos/sin tables at each row's position.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void RotaryInPlace(Tensor qkv, int headCount, int headDim, int rotaryDim, long[] positions, Tensor cos, Tensor sin)
    {
        int n = (int)qkv.shape[0], columns = (int)qkv.shape[1], half = rotaryDim / 2;
        float* p = TensorData.Float(qkv), pc = TensorData.Float(cos), ps = TensorData.Float(sin);
        for (var r = 0; r < n; r++)
        {
            float* c = pc + positions[r] * rotaryDim, s = ps + positions[r] * rotaryDim;
            for (var head = 0; head < headCount; head++)
            {
                var x = p + (long)r * columns + head * headDim;
                var i = 0;
                if (Vector256.IsHardwareAccelerated)
                    for (; i + 8 <= half; i += 8)
                    {
                        var x1 = Vector256.Load(x + i);
                        var x2 = Vector256.Load(x + half + i);
                        var cv = Vector256.Load(c + i);
                        var sv = Vector256.Load(s + i);
                        (x1 * cv - x2 * sv).Store(x + i);
                        (x2 * cv + x1 * sv).Store(x + half + i);
                    }
                for (; i < half; i++)
                {
                    float x1 = x[i], x2 = x[half + i];
                    x[i] = x1 * c[i] - x2 * s[i];
                    x[half + i] = x2 * c[i] + x1 * s[i];
                }
            }
        }
    }

    /// <summary>silu(gate) * up for gateUp = [N, 2I] (gate | up) -> new [N, I].</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static Tensor SiluMul(Tensor gateUp, int inter)
    {
        var n = (int)gateUp.shape[0];
        var y = empty([n, inter], ScalarType.Float32);
        float* p = TensorData.Float(gateUp), py = TensorData.Float(y);
        for (var r = 0; r < n; r++)
        {
            float* g = p + (long)r * 2 * inter, u = g + inter, o = py + (long)r * inter;
            var i = 0;
            for (; i + 8 <= inter; i += 8)
                (VectorMath.Silu(Vector256.Load(g + i)) * Vector256.Load(u + i)).Store(o + i);
            for (; i < inter; i++)
                o[i] = g[i] / (1f + MathF.Exp(-g[i])) * u[i];
        }
        return y;
    }

    /// <summary>
    /// gelu(gate) * up for gateUp = [N, 2I] (gate | up) -> new [N, I], with transformers' gelu_pytorch_tanh:
    /// 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static Tensor GeluTanhMul(Tensor gateUp, int inter)
    {
        var n = (int)gateUp.shape[0];
        var y = empty([n, inter], ScalarType.Float32);
        float* p = TensorData.Float(gateUp), py = TensorData.Float(y);
        const float sqrt2OverPi = 0.7978845608028654f;
        for (var r = 0; r < n; r++)
        {
            float* g = p + (long)r * 2 * inter, u = g + inter, o = py + (long)r * inter;
            var i = 0;
            for (; i + 8 <= inter; i += 8)
            {
                var x = Vector256.Load(g + i);
                var inner = Vector256.Create(sqrt2OverPi) * (x + Vector256.Create(0.044715f) * x * x * x);
                (Vector256.Create(0.5f) * x * (Vector256<float>.One + VectorMath.Tanh(inner)) * Vector256.Load(u + i)).Store(o + i);
            }
            for (; i < inter; i++)
            {
                var x = g[i];
                o[i] = 0.5f * x * (1f + MathF.Tanh(sqrt2OverPi * (x + 0.044715f * x * x * x))) * u[i];
            }
        }
        return y;
    }
}
