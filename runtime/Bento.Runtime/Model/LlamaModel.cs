using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Bento.Runtime.Model;

// The Llama architecture in one file (nanoGPT / llama2.c style), as TorchSharp modules whose parameter names are
// the Hugging Face ones ("model.layers.0.self_attn.q_proj.weight", ...), so a state dict maps 1:1 onto a checkpoint.
//
//   tokens -> embed_tokens -> N x [ x + attn(rms(x)) ; x + mlp(rms(x)) ] -> norm -> lm_head (or the tied embedding)
//
// The same file serves every family of ModelContract.Architectures; each differs from Llama in a few places, all
// visible here as a null module or a flag of the config:
//   * Mistral: identical tensors; its sliding window masks attention (LayerAttention.Window on every layer).
//   * Qwen2/Qwen2.5: q = x Wq^T + bq, likewise k and v (o_proj has no bias).
//   * Qwen3: q and k each get an RMSNorm over head_dim per head (q_norm, k_norm), after the projection and before RoPE;
//     head_dim may differ from hidden / heads.
//   * Phi-3 / Phi-4-mini: q|k|v in one qkv_proj and gate|up in one gate_up_proj matrix (the same columns our fused
//     projection produces anyway); RoPE may rotate only the first partial_rotary_factor of each head, with LongRoPE
//     short/long factors and an attention factor on cos/sin (RotaryTables).
//   * Gemma 2 / Gemma 3: embeddings x sqrt(hidden); RMSNorm scales by (1 + w); GeGLU (gelu_pytorch_tanh) instead of
//     SwiGLU; the attention and MLP outputs get their own norms before the residual add (post_attention_layernorm,
//     post_feedforward_layernorm; the MLP's input norm is pre_feedforward_layernorm); scores scaled by
//     query_pre_attn_scalar^-0.5; sliding-window layers interleaved with global ones; Gemma 2 soft-caps attention
//     scores and logits (cap * tanh(x / cap)); Gemma 3 adds q_norm/k_norm and rotates its sliding layers with
//     rope_local_base_freq.
// What differs per layer (window, score scale, soft-cap, RoPE table) is one LayerAttention record (ModelConfig.Attention),
// so the attention paths below take it as data rather than knowing families.
//
// Two forward paths share the same weights:
//   * forward(tokens[B,T]) -> logits[B,T,V]: the plain full-sequence causal forward, no cache. Differentiable, so
//     the model can be trained with autograd (parameters are created with requires_grad when asked).
//   * ForwardStep(batch, cache, projector): inference over a flat, ragged batch of tokens from several sequences
//     (decode tokens and prefill chunks mixed), appending keys/values to the paged KV cache through each sequence's
//     block table. All token rows go through each weight matrix together, so the weights are read once per step for
//     the whole batch.
//
// Conventions: weights are [out, in] as in Hugging Face; rotary embeddings use the rotate-half layout (HF), not the
// interleaved pairs of the original Llama / llama.cpp; grouped-query attention maps query head h to kv head
// h / (heads / kv_heads) (transformers' repeat_kv).

/// <summary>
/// y = x W^T (+ b for Qwen2's q/k/v); W is [out, in], float or int8 with scales (<see cref="Matrix"/>: what
/// <see cref="Projector"/> multiplies).
/// </summary>
public sealed class LlamaLinear : nn.Module<Tensor, Tensor>
{
    public readonly Parameter weight;
    public readonly Parameter? bias;

    /// <summary>An int8 checkpoint's scales (compressed-tensors' name), float32 [out, groups]; null for float weights.</summary>
    public readonly Parameter? weight_scale;

    public LlamaLinear(Tensor weight, bool requiresGrad, Tensor? bias = null, Tensor? weightScale = null) : base(nameof(LlamaLinear))
    {
        if (WeightMatrix.IsQuantizedData(weight) && weightScale is null)
            throw new ArgumentException("an int8 weight needs its weight_scale (load it with LlamaLinear.Load)");
        this.weight = new Parameter(weight, requiresGrad && weightScale is null);
        if (bias is not null) this.bias = new Parameter(bias, requiresGrad);
        if (weightScale is not null) weight_scale = new Parameter(weightScale, false);
        Matrix = WeightMatrix.From(this.weight, weight_scale);
        RegisterComponents();
    }

    /// <summary>{name}.weight, with {name}.weight_scale when the weight is int8 and {name}.bias when asked.</summary>
    public static LlamaLinear Load(Func<string, Tensor> w, string name, bool requiresGrad, bool bias = false)
    {
        var weight = w(name + ".weight");
        try
        {
            return new LlamaLinear(weight, requiresGrad, bias ? w(name + ".bias") : null,
                WeightMatrix.IsQuantizedData(weight) ? w(name + ".weight_scale") : null);
        }
        catch (ArgumentException e)
        {
            throw new ArgumentException($"{name}: {e.Message}", e);
        }
    }

    public WeightMatrix Matrix { get; }

    public override Tensor forward(Tensor x)
    {
        if (weight.dtype == x.dtype) return F.linear(x, weight, bias);
        var y = Matrix.Linear(x);
        return bias is null ? y : y.add_(bias);
    }
}

/// <summary>
/// RMSNorm: x / sqrt(mean(x^2) + eps) * weight, computed in float32 like transformers (TorchSharp 0.107 has none).
/// Gemma's variant scales by (1 + weight), multiplied in float32 before the result is cast back (GemmaRMSNorm).
/// </summary>
public sealed class LlamaRmsNorm : nn.Module<Tensor, Tensor>
{
    public readonly Parameter weight;
    private readonly double _eps;
    private readonly Tensor? _plusOne;

    public LlamaRmsNorm(Tensor weight, double eps, bool requiresGrad, bool plusOne = false) : base(nameof(LlamaRmsNorm))
    {
        this.weight = new Parameter(weight, requiresGrad);
        _eps = eps;
        if (plusOne)
            using (no_grad())
                _plusOne = (this.weight.to(ScalarType.Float32) + 1).DetachFromDisposeScope(); // the argument's handle now belongs to the parameter
        RegisterComponents();
    }

    public double Eps => _eps;

    /// <summary>The float32 factor the managed kernels multiply by: the weight itself, or 1 + weight for Gemma.</summary>
    internal Tensor ManagedScale => _plusOne ?? weight;

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var xf = x.dtype == ScalarType.Float32 ? x : x.to(ScalarType.Float32);
        var normed = xf * (xf.square().mean([-1], keepdim: true) + _eps).rsqrt_();
        if (_plusOne is not null)
        {
            var scale = weight.requires_grad ? weight.to(ScalarType.Float32) + 1 : _plusOne;
            var y = normed * scale;
            return (x.dtype == ScalarType.Float32 ? y : y.to(x.dtype)).MoveToOuterDisposeScope();
        }
        return (weight * (x.dtype == ScalarType.Float32 ? normed : normed.to(x.dtype))).MoveToOuterDisposeScope();
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) _plusOne?.Dispose();
        base.Dispose(disposing);
    }
}

/// <summary>Token embedding table [vocab, hidden], float or int8 with per-row scales (then also the tied head);
/// Gemma multiplies the rows by sqrt(hidden).</summary>
public sealed class LlamaEmbedding : nn.Module<Tensor, Tensor>
{
    public readonly Parameter weight;
    public readonly Parameter? weight_scale;

    /// <summary>sqrt(hidden_size) rounded to the model's dtype, as transformers' Gemma does (the weights' dtype, or
    /// for int8 rows the dtype the checkpoint declares); null for other families.</summary>
    private readonly double? _scale;

    /// <param name="scaled">Gemma: multiply rows by sqrt(hidden_size).</param>
    /// <param name="quantizedModelDtype">The model's float dtype when the rows are int8 (they have none of their own).</param>
    public LlamaEmbedding(Tensor weight, bool requiresGrad, Tensor? weightScale = null, bool scaled = false,
        ScalarType quantizedModelDtype = ScalarType.Float32) : base(nameof(LlamaEmbedding))
    {
        this.weight = new Parameter(weight, requiresGrad && weightScale is null);
        if (weightScale is not null) weight_scale = new Parameter(weightScale, false);
        Matrix = WeightMatrix.From(this.weight, weight_scale);
        if (scaled)
        {
            var rounding = Matrix.IsQuantized ? quantizedModelDtype : this.weight.dtype;
            using var s = tensor(Math.Sqrt(this.weight.shape[1]), ScalarType.Float64).to(rounding);
            _scale = s.to(ScalarType.Float64).item<double>();
        }
        RegisterComponents();
    }

    public static LlamaEmbedding Load(Func<string, Tensor> w, string name, bool requiresGrad, bool scaled = false,
        ScalarType quantizedModelDtype = ScalarType.Float32)
    {
        var weight = w(name + ".weight");
        return new LlamaEmbedding(weight, requiresGrad, WeightMatrix.IsQuantizedData(weight) ? w(name + ".weight_scale") : null, scaled, quantizedModelDtype);
    }

    public WeightMatrix Matrix { get; }

    public override Tensor forward(Tensor ids) => Lookup(ids, weight.dtype is ScalarType.Int8 or ScalarType.Byte ? ScalarType.Float32 : weight.dtype);

    /// <summary>The rows of <paramref name="ids"/> as <paramref name="dtype"/> (differentiable for a float table already in it).</summary>
    public Tensor Lookup(Tensor ids, ScalarType dtype)
    {
        Tensor x;
        if (Matrix.IsQuantized || weight.dtype != dtype)
        {
            x = Matrix.Gather(ids, dtype);
            return _scale is { } scale ? x.mul_(scale) : x;
        }
        var shape = ids.shape.Append(weight.shape[1]).ToArray();
        x = weight.index_select(0, ids.reshape(-1)).view(shape);
        return _scale is { } s ? x * s : x;
    }
}

/// <summary>
/// Rotary position embedding tables (cos and sin, [positions, rotary_dim], rotate-half layout) from the config's
/// inverse frequencies, rope_scaling included, multiplied by LongRoPE's attention factor. Gemma 3's sliding layers have
/// their own (local) table. Not a module: the tables are derived, never trained or saved.
/// </summary>
public sealed class RotaryTables : IDisposable
{
    public RotaryTables(ModelConfig config, int positions, ScalarType dtype, bool local = false, int contextLength = 0)
    {
        var inv = config.RopeInverseFrequencies(local, contextLength);
        var attentionFactor = config.RopeAttentionFactor(local);
        var half = inv.Length;
        var cos = new float[positions * 2 * half];
        var sin = new float[positions * 2 * half];
        for (var p = 0; p < positions; p++)
            for (var i = 0; i < half; i++)
            {
                var angle = p * inv[i];
                float c = (float)(Math.Cos(angle) * attentionFactor), s = (float)(Math.Sin(angle) * attentionFactor);
                var row = p * 2 * half;
                cos[row + i] = cos[row + half + i] = c;
                sin[row + i] = sin[row + half + i] = s;
            }
        Cos = tensor(cos, [positions, 2L * half]).to(dtype);
        Sin = tensor(sin, [positions, 2L * half]).to(dtype);
        Positions = positions;
    }

    public int Positions { get; }
    public Tensor Cos { get; }
    public Tensor Sin { get; }

    /// <summary>Rotated dimensions per head (head_dim unless partial_rotary_factor &lt; 1).</summary>
    public int Dim => (int)Cos.shape[1];

    /// <summary>x * cos + rotate_half(x) * sin on the first <see cref="Dim"/> dimensions of x ([..., head_dim]), the rest
    /// passed through; cos/sin broadcast against it.</summary>
    public static Tensor Apply(Tensor x, Tensor cos, Tensor sin)
    {
        var dim = cos.shape[^1];
        var headDim = x.shape[^1];
        if (dim == headDim) return Rotate(x, cos, sin);
        return cat([Rotate(x.narrow(-1, 0, dim), cos, sin), x.narrow(-1, dim, headDim - dim)], -1);
    }

    private static Tensor Rotate(Tensor x, Tensor cos, Tensor sin)
    {
        var half = x.shape[^1] / 2;
        var rotated = cat([x.narrow(-1, half, half).neg(), x.narrow(-1, 0, half)], -1);
        return x * cos + rotated * sin;
    }

    public void Dispose()
    {
        Cos.Dispose();
        Sin.Dispose();
    }
}

public sealed class LlamaAttention : nn.Module<Tensor, Tensor, Tensor, Tensor>
{
    /// <summary>Separate projections (null for Phi-3, which has <see cref="qkv_proj"/> instead).</summary>
    public readonly LlamaLinear? q_proj, k_proj, v_proj;

    /// <summary>Phi-3's fused [q | k | v] projection.</summary>
    public readonly LlamaLinear? qkv_proj;

    public readonly LlamaLinear o_proj;

    /// <summary>Per-head RMSNorms on queries and keys (weights [head_dim]): Qwen3, Gemma 3; null for the other families.</summary>
    public readonly LlamaRmsNorm? q_norm, k_norm;

    private readonly ModelConfig _c;
    private readonly LayerAttention _spec;

    public LlamaAttention(ModelConfig c, LayerAttention spec, Func<string, Tensor> w, bool requiresGrad) : base(nameof(LlamaAttention))
    {
        _c = c;
        _spec = spec;
        if (c.FusedProjections)
        {
            qkv_proj = LlamaLinear.Load(w, "qkv_proj", requiresGrad);
        }
        else
        {
            q_proj = LlamaLinear.Load(w, "q_proj", requiresGrad, c.QkvBias);
            k_proj = LlamaLinear.Load(w, "k_proj", requiresGrad, c.QkvBias);
            v_proj = LlamaLinear.Load(w, "v_proj", requiresGrad, c.QkvBias);
        }
        o_proj = LlamaLinear.Load(w, "o_proj", requiresGrad);
        if (c.QkNorm)
        {
            q_norm = new LlamaRmsNorm(w("q_norm.weight"), c.RmsNormEps, requiresGrad, c.GemmaBlock);
            k_norm = new LlamaRmsNorm(w("k_norm.weight"), c.RmsNormEps, requiresGrad, c.GemmaBlock);
        }
        RegisterComponents();
    }

    /// <summary>The matrices whose outputs side by side are the [q | k | v] columns (one fused matrix for Phi-3).</summary>
    internal WeightMatrix[] QkvWeights => qkv_proj is not null ? [qkv_proj.Matrix] : [q_proj!.Matrix, k_proj!.Matrix, v_proj!.Matrix];

    /// <summary>Full-sequence causal self-attention: x [B,T,H], cos/sin [T,rotary_dim].</summary>
    public override Tensor forward(Tensor x, Tensor cos, Tensor sin)
    {
        long b = x.shape[0], t = x.shape[1], hd = _c.HeadDim;
        int heads = _c.NumAttentionHeads, kvHeads = _c.NumKeyValueHeads;
        Tensor q, k, v;
        if (qkv_proj is not null)
        {
            var qkv = qkv_proj.forward(x);
            q = qkv.narrow(-1, 0, heads * hd);
            k = qkv.narrow(-1, heads * hd, kvHeads * hd);
            v = qkv.narrow(-1, (heads + kvHeads) * hd, kvHeads * hd);
        }
        else
        {
            (q, k, v) = (q_proj!.forward(x), k_proj!.forward(x), v_proj!.forward(x));
        }
        q = q.reshape(b, t, heads, hd);
        k = k.reshape(b, t, kvHeads, hd);
        if (q_norm is not null) (q, k) = (q_norm.forward(q), k_norm!.forward(k));
        q = RotaryTables.Apply(q.transpose(1, 2), cos, sin);
        k = RotaryTables.Apply(k.transpose(1, 2), cos, sin);
        v = v.reshape(b, t, kvHeads, hd).transpose(1, 2);
        if (_c.KeyValueGroups > 1)
        {
            // SDPA in TorchSharp 0.107 has no enable_gqa: give every query head its own copy of its kv head.
            k = k.repeat_interleave(_c.KeyValueGroups, dim: 1);
            v = v.repeat_interleave(_c.KeyValueGroups, dim: 1);
        }
        using var mask = StepBatch.PrefillMask(0, (int)t, 1, _spec.Window); // query and key positions coincide here
        var y = LlamaForCausalLM.ScaledDotProductAttention(q, k, v, mask, _spec, hd);
        return o_proj.forward(y.transpose(1, 2).reshape(b, t, heads * hd));
    }

    /// <summary>
    /// What the families add between the fused projection and RoPE, in place on qkv [N, (heads + 2 kv_heads) * hd]
    /// (columns q | k | v): Qwen2's biases, Qwen3's and Gemma 3's per-head norms. Nothing for the others.
    /// </summary>
    internal void FinishProjection(Tensor qkv)
    {
        long n = qkv.shape[0], hd = _c.HeadDim, q = _c.NumAttentionHeads * hd, kv = _c.NumKeyValueHeads * hd;
        if (q_proj?.bias is not null)
        {
            qkv.narrow(1, 0, q).add_(q_proj.bias);
            qkv.narrow(1, q, kv).add_(k_proj!.bias!);
            qkv.narrow(1, q + kv, kv).add_(v_proj!.bias!);
        }
        if (q_norm is not null)
        {
            var queries = qkv.narrow(1, 0, q);
            queries.copy_(q_norm.forward(queries.view(n, _c.NumAttentionHeads, hd)).view(n, q));
            var keys = qkv.narrow(1, q, kv);
            keys.copy_(k_norm!.forward(keys.view(n, _c.NumKeyValueHeads, hd)).view(n, kv));
        }
    }
}

public sealed class LlamaMlp : nn.Module<Tensor, Tensor>
{
    /// <summary>Separate gate and up projections (null for Phi-3, which has <see cref="gate_up_proj"/>).</summary>
    public readonly LlamaLinear? gate_proj, up_proj;

    /// <summary>Phi-3's fused [gate | up] projection.</summary>
    public readonly LlamaLinear? gate_up_proj;

    public readonly LlamaLinear down_proj;
    private readonly int _inter;
    private readonly bool _gelu;

    public LlamaMlp(ModelConfig c, Func<string, Tensor> w, bool requiresGrad) : base(nameof(LlamaMlp))
    {
        if (c.FusedProjections)
        {
            gate_up_proj = LlamaLinear.Load(w, "gate_up_proj", requiresGrad);
        }
        else
        {
            gate_proj = LlamaLinear.Load(w, "gate_proj", requiresGrad);
            up_proj = LlamaLinear.Load(w, "up_proj", requiresGrad);
        }
        down_proj = LlamaLinear.Load(w, "down_proj", requiresGrad);
        _inter = c.IntermediateSize;
        _gelu = c.HiddenAct == "gelu_pytorch_tanh";
        RegisterComponents();
    }

    /// <summary>The matrices whose outputs side by side are the [gate | up] columns (one fused matrix for Phi-3).</summary>
    internal WeightMatrix[] GateUpWeights => gate_up_proj is not null ? [gate_up_proj.Matrix] : [gate_proj!.Matrix, up_proj!.Matrix];

    /// <summary>act(gate) * up on the [..., 2I] columns gate | up: silu (SwiGLU) or gelu with the tanh approximation (GeGLU).</summary>
    internal Tensor GatedActivation(Tensor gateUp) =>
        Activation(gateUp.narrow(-1, 0, _inter)) * gateUp.narrow(-1, _inter, _inter);

    internal bool UsesGelu => _gelu;

    private Tensor Activation(Tensor gate) => _gelu ? F.gelu(gate, TorchSharp.Modules.GELU.Approximate.tanh) : F.silu(gate);

    /// <summary>down(act(gate(x)) * up(x)).</summary>
    public override Tensor forward(Tensor x)
    {
        if (gate_up_proj is not null) return down_proj.forward(GatedActivation(gate_up_proj.forward(x)));
        return down_proj.forward(Activation(gate_proj!.forward(x)) * up_proj!.forward(x));
    }
}

public sealed class LlamaDecoderLayer : nn.Module<Tensor, Tensor, Tensor, Tensor>
{
    public readonly LlamaAttention self_attn;
    public readonly LlamaMlp mlp;

    /// <summary>Llama: input_layernorm before attention, post_attention_layernorm before the MLP. Gemma: post_attention_layernorm
    /// normalises the attention output, pre_/post_feedforward_layernorm the MLP's input and output.</summary>
    public readonly LlamaRmsNorm input_layernorm, post_attention_layernorm;
    public readonly LlamaRmsNorm? pre_feedforward_layernorm, post_feedforward_layernorm;

    public LlamaDecoderLayer(ModelConfig c, int index, Func<string, Tensor> w, bool requiresGrad) : base(nameof(LlamaDecoderLayer))
    {
        var gemma = c.GemmaBlock;
        Attention = c.Attention(index);
        self_attn = new LlamaAttention(c, Attention, n => w("self_attn." + n), requiresGrad);
        mlp = new LlamaMlp(c, n => w("mlp." + n), requiresGrad);
        input_layernorm = new LlamaRmsNorm(w("input_layernorm.weight"), c.RmsNormEps, requiresGrad, gemma);
        post_attention_layernorm = new LlamaRmsNorm(w("post_attention_layernorm.weight"), c.RmsNormEps, requiresGrad, gemma);
        if (gemma)
        {
            pre_feedforward_layernorm = new LlamaRmsNorm(w("pre_feedforward_layernorm.weight"), c.RmsNormEps, requiresGrad, plusOne: true);
            post_feedforward_layernorm = new LlamaRmsNorm(w("post_feedforward_layernorm.weight"), c.RmsNormEps, requiresGrad, plusOne: true);
        }
        RegisterComponents();
    }

    /// <summary>How this layer attends (window, score scale, soft-cap, RoPE table).</summary>
    public LayerAttention Attention { get; }

    /// <summary>The norm on the attention output before the residual add (Gemma), or null.</summary>
    internal LlamaRmsNorm? AttentionOutputNorm => pre_feedforward_layernorm is null ? null : post_attention_layernorm;

    /// <summary>The norm on the MLP's input.</summary>
    internal LlamaRmsNorm MlpInputNorm => pre_feedforward_layernorm ?? post_attention_layernorm;

    /// <summary>The norm on the MLP's output before the residual add (Gemma), or null.</summary>
    internal LlamaRmsNorm? MlpOutputNorm => post_feedforward_layernorm;

    public override Tensor forward(Tensor x, Tensor cos, Tensor sin)
    {
        var a = self_attn.forward(input_layernorm.forward(x), cos, sin);
        var h = x + (AttentionOutputNorm?.forward(a) ?? a);
        var m = mlp.forward(MlpInputNorm.forward(h));
        return h + (MlpOutputNorm?.forward(m) ?? m);
    }
}

/// <summary>The transformer body: HF's <c>LlamaModel</c> ("model.*" names).</summary>
public sealed class LlamaBackbone : nn.Module
{
    public readonly LlamaEmbedding embed_tokens;
    public readonly ModuleList<LlamaDecoderLayer> layers;
    public readonly LlamaRmsNorm norm;

    public LlamaBackbone(ModelConfig c, Func<string, Tensor> w, bool requiresGrad) : base("model")
    {
        embed_tokens = LlamaEmbedding.Load(w, "embed_tokens", requiresGrad, scaled: c.GemmaBlock,
            quantizedModelDtype: EagerModelRunner.ToScalarType(c.TorchDtype ?? ModelDtype.Float32));
        layers = new ModuleList<LlamaDecoderLayer>(Enumerable.Range(0, c.NumHiddenLayers)
            .Select(i => new LlamaDecoderLayer(c, i, n => w($"layers.{i}.{n}"), requiresGrad)).ToArray());
        norm = new LlamaRmsNorm(w("norm.weight"), c.RmsNormEps, requiresGrad, c.GemmaBlock);
        RegisterComponents();
    }
}

/// <summary>
/// HF's <c>LlamaForCausalLM</c> (and the other families' *ForCausalLM): the backbone plus the language-model head
/// (absent when the embeddings are tied; the embedding matrix is then the head).
/// </summary>
public sealed class LlamaForCausalLM : nn.Module<Tensor, Tensor>
{
    public readonly LlamaBackbone model;
    public readonly LlamaLinear? lm_head;
    private RotaryTables _rope;
    private RotaryTables? _localRope;
    private int _contextLength;

    public ModelConfig Config { get; }

    /// <param name="weights">Tensor by Hugging Face name, already in the wanted dtype; each is wrapped (not copied)
    /// as a parameter. Matrices may be float32/bfloat16/float16 or int8 (with their weight_scale); norms and biases
    /// must be in <paramref name="computeDtype"/>.</param>
    /// <param name="computeDtype">The activations' dtype; default: the embedding's (float32 when it is int8).</param>
    public LlamaForCausalLM(ModelConfig config, Func<string, Tensor> weights, bool requiresGrad = false, ScalarType? computeDtype = null) : base("LlamaForCausalLM")
    {
        config.Validate();
        Config = config;
        model = new LlamaBackbone(config, n => weights("model." + n), requiresGrad);
        lm_head = config.TieWordEmbeddings ? null : LlamaLinear.Load(weights, "lm_head", requiresGrad);
        ComputeDtype = computeDtype ?? (model.embed_tokens.Matrix.IsQuantized ? ScalarType.Float32 : model.embed_tokens.weight.dtype);
        _contextLength = Math.Min(config.MaxPositionEmbeddings, 4096);
        (_rope, _localRope) = BuildRope(_contextLength);
        RegisterComponents();
    }

    /// <summary>The dtype activations, norms, rotary tables and the KV cache use; the weight matrices keep their own.</summary>
    public ScalarType ComputeDtype { get; }

    public ScalarType DType => ComputeDtype;

    /// <summary>The [vocab, hidden] matrix that produces logits (lm_head, or the embedding when tied).</summary>
    public Tensor HeadWeight => lm_head?.weight ?? model.embed_tokens.weight;

    /// <summary><see cref="HeadWeight"/> with its format (and scales): what the step multiplies.</summary>
    public WeightMatrix HeadMatrix => lm_head?.Matrix ?? model.embed_tokens.Matrix;

    /// <summary>
    /// The longest sequence this model serves (default min(max_position_embeddings, 4096); the runner sets its
    /// max_model_len). It sizes the RoPE tables and, for LongRoPE, picks the long factors when it exceeds
    /// original_max_position_embeddings, as llama.cpp does by context size.
    /// </summary>
    public int ContextLength
    {
        get => _contextLength;
        set
        {
            if (value <= 0) throw new ArgumentOutOfRangeException(nameof(value));
            if (value == _contextLength) return;
            _contextLength = value;
            _rope.Dispose();
            _localRope?.Dispose();
            (_rope, _localRope) = BuildRope(value);
        }
    }

    private (RotaryTables Global, RotaryTables? Local) BuildRope(int positions) =>
        (new RotaryTables(Config, positions, DType, local: false, _contextLength),
         Config.RopeLocalBaseFreq is null ? null : new RotaryTables(Config, positions, DType, local: true, _contextLength));

    /// <summary>The checkpoint tensor names a config needs (lm_head.weight only when untied): the build's layout.</summary>
    public static IEnumerable<string> WeightNames(ModelConfig c) => LlamaTensorLayout.Expected(c).Keys;

    /// <summary>
    /// Loads the model from a checkpoint. Weight matrices in <paramref name="dtype"/> (and int8 ones, which keep
    /// their format) are views of the file mapping (no copy) unless <paramref name="copy"/>; a float matrix in
    /// another dtype is converted (copied). Norms, biases and scales are small: they are converted to
    /// <paramref name="computeDtype"/> (float32 for scales). Once the checkpoint is disposed, copied tensors leave
    /// nothing of the mapping behind (weights are held once).
    /// </summary>
    /// <param name="computeDtype">The activations' dtype; default <paramref name="dtype"/>.</param>
    public static LlamaForCausalLM FromCheckpoint(ModelConfig config, SafetensorsCheckpoint checkpoint, ScalarType dtype,
        bool requiresGrad = false, bool copy = false, ScalarType? computeDtype = null)
    {
        var compute = computeDtype ?? dtype;
        var reader = new CheckpointWeights(checkpoint);
        Tensor Load(string name)
        {
            var t = reader.Get(name);
            var wanted = WeightMatrix.IsQuantizedData(t) ? t.dtype
                : name.EndsWith(".weight_scale", StringComparison.Ordinal) ? ScalarType.Float32
                : t.dim() >= 2 ? dtype : compute;
            if (t.dtype == wanted && !copy) return t;
            if (t.dtype == wanted)
            {
                var owned = t.clone();
                t.Dispose();
                return owned;
            }
            var converted = t.to(wanted);
            t.Dispose();
            return converted;
        }
        using var noGrad = no_grad();
        return new LlamaForCausalLM(config, Load, requiresGrad, compute);
    }

    /// <summary>A freshly initialised model (normal(0, <paramref name="std"/>) matrices, zero biases, unit norms - zero
    /// weights for Gemma's (1 + w) norms) for training.</summary>
    public static LlamaForCausalLM CreateRandom(ModelConfig config, long seed, ScalarType dtype = ScalarType.Float32, double std = 0.02, bool requiresGrad = true)
    {
        var generator = new Generator((ulong)seed);
        var shapes = LlamaTensorLayout.Expected(config);
        long[] Shape(string name) => shapes.TryGetValue(name, out var shape) ? shape
            : throw new ArgumentException($"tensor '{name}' is not part of {config.Architecture}");
        Tensor Init(string name) =>
            name.EndsWith("norm.weight") ? (config.GemmaBlock ? zeros(Shape(name), dtype) : ones(Shape(name), dtype))
            : name.EndsWith(".bias") ? zeros(Shape(name), dtype)
            : (randn(Shape(name), ScalarType.Float32, generator: generator) * std).to(dtype);
        using var noGrad = no_grad();
        return new LlamaForCausalLM(config, Init, requiresGrad);
    }

    /// <summary>RoPE tables covering at least <paramref name="positions"/> positions (grown when needed; the
    /// LongRoPE factor choice stays that of <see cref="ContextLength"/>).</summary>
    internal RotaryTables Rope(int positions, bool local = false)
    {
        if (_rope.Positions < positions)
        {
            _rope.Dispose();
            _localRope?.Dispose();
            (_rope, _localRope) = BuildRope(positions);
        }
        return local ? _localRope ?? throw new InvalidOperationException("no local RoPE table") : _rope;
    }

    /// <summary>Plain full-sequence causal forward: tokens [B,T] (int64) -> logits [B,T,vocab]. No KV cache.</summary>
    public override Tensor forward(Tensor tokens)
    {
        var t = (int)tokens.shape[1];
        var x = model.embed_tokens.Lookup(tokens, ComputeDtype);
        foreach (var layer in model.layers)
        {
            var rope = Rope(t, layer.Attention.LocalRope);
            x = layer.forward(x, rope.Cos.narrow(0, 0, t), rope.Sin.narrow(0, 0, t));
        }
        return SoftCap(HeadMatrix.Linear(model.norm.forward(x)), Config.FinalLogitSoftcapping);
    }

    /// <summary>cap * tanh(x / cap) (Gemma 2's attention-score and logit soft-capping); x itself without a cap.</summary>
    internal static Tensor SoftCap(Tensor x, double? cap) =>
        cap is not { } c ? x
        : x.requires_grad ? (x / c).tanh() * c // autograd needs tanh's output untouched
        : (x / c).tanh_().mul_(c);

    /// <summary>
    /// softmax(q k^T * scale [soft-capped], masked) v for q [..., Tq, hd], k/v [..., Tk, hd] and a bool mask (true =
    /// attend) broadcast over the leading dimensions. Without soft-capping this is LibTorch's SDPA, whose fixed
    /// 1/sqrt(hd) scale (TorchSharp 0.107 has no scale argument) is corrected on q; soft-capping needs the scores, so
    /// it is spelled out.
    /// </summary>
    internal static Tensor ScaledDotProductAttention(Tensor q, Tensor k, Tensor v, Tensor? mask, LayerAttention spec, long headDim)
    {
        if (spec.LogitSoftcap is null)
        {
            var sdpaScale = 1.0 / Math.Sqrt(headDim);
            if (Math.Abs(spec.Scale - sdpaScale) > 1e-12 * sdpaScale) q = q * (spec.Scale / sdpaScale);
            return F.scaled_dot_product_attention(q, k, v, mask);
        }
        var scores = SoftCap(matmul(q, k.transpose(-2, -1)).mul_(spec.Scale), spec.LogitSoftcap);
        if (mask is not null) scores = scores.masked_fill(mask.logical_not(), double.NegativeInfinity);
        return matmul(scores.softmax(-1), v);
    }

    /// <summary>
    /// One cached inference step over <paramref name="batch"/> (flat token rows of several sequences, see
    /// <see cref="StepBatch"/>): writes each row's key/value into the paged <paramref name="cache"/> at its slot and
    /// returns the logits of each sequence's last row, [sequences, vocab]. Every matrix multiply goes through
    /// <paramref name="projector"/> for all rows at once.
    /// </summary>
    /// <param name="threads">Threads the managed decode attention may use for large batches or long contexts.</param>
    public Tensor ForwardStep(StepBatch batch, KvCache cache, Projector projector, int threads = 1)
    {
        var c = Config;
        long n = batch.Tokens.shape[0], hd = c.HeadDim;
        int heads = c.NumAttentionHeads, kvHeads = c.NumKeyValueHeads;
        var positions = batch.MaxPosition + 1;
        Rope(positions);
        var x = model.embed_tokens.Lookup(batch.Tokens, ComputeDtype); // [N, H]
        // Small float32 batches (decode) run the element-wise steps as managed loops (see SmallBatchOps): in decode
        // LibTorch's per-op cost, not arithmetic, would dominate them.
        var small = projector.UsesManagedKernel && SmallBatchOps.Applies(x);
        // Each RoPE table's cos/sin rows at the batch's positions, [N, 1, rotary_dim] (LibTorch path only; Gemma 3's
        // sliding layers have a table of their own).
        (Tensor Cos, Tensor Sin) RopeRows(bool local)
        {
            var rope = Rope(positions, local);
            return (rope.Cos.index_select(0, batch.Positions).unsqueeze(1), rope.Sin.index_select(0, batch.Positions).unsqueeze(1));
        }
        var globalRows = small ? default : RopeRows(false);
        var localRows = small || c.RopeLocalBaseFreq is null ? default : RopeRows(true);
        Tensor Norm(LlamaRmsNorm norm, Tensor input) =>
            small ? SmallBatchOps.RmsNorm(input, norm.ManagedScale, norm.Eps) : norm.forward(input);
        // residual + branch; managed, the branch output (this step's own tensor) takes the sum.
        Tensor Residual(Tensor residual, Tensor branch) => small ? SmallBatchOps.AddInPlace(branch, residual) : residual + branch;

        for (var l = 0; l < c.NumHiddenLayers; l++)
        {
            var layer = model.layers[l];
            var attn = layer.self_attn;
            var spec = layer.Attention;
            using var scope = NewDisposeScope();

            // q, k and v in one pass over the weights: [N, (heads + 2 kv_heads) * hd], then rotary embedding on q and
            // k (adjacent columns) in place, then keys and values go into the cache at each row's slot.
            var qkv = projector.Project(Norm(layer.input_layernorm, x), attn.QkvWeights);
            attn.FinishProjection(qkv);
            var rotated = (heads + kvHeads) * hd;
            if (small)
            {
                var rope = Rope(positions, spec.LocalRope);
                SmallBatchOps.RotaryInPlace(qkv, heads + kvHeads, (int)hd, rope.Dim, batch.PositionValues, rope.Cos, rope.Sin);
            }
            else
            {
                var (cos, sin) = spec.LocalRope ? localRows : globalRows;
                qkv.narrow(1, 0, rotated).copy_(RotaryTables.Apply(qkv.narrow(1, 0, rotated).view(n, heads + kvHeads, hd), cos, sin).reshape(n, rotated));
            }
            cache.Write(l, batch, qkv, heads * (int)hd, (heads + kvHeads) * (int)hd);

            var y = Attend(batch, cache, l, qkv, spec, threads);                        // [N, heads * hd]
            var attended = projector.Project(y, attn.o_proj.Matrix);
            var h = Residual(x, layer.AttentionOutputNorm is { } attentionOutputNorm ? Norm(attentionOutputNorm, attended) : attended);
            var gateUp = projector.Project(Norm(layer.MlpInputNorm, h), layer.mlp.GateUpWeights);
            var act = !small ? layer.mlp.GatedActivation(gateUp)
                : layer.mlp.UsesGelu ? SmallBatchOps.GeluTanhMul(gateUp, c.IntermediateSize)
                : SmallBatchOps.SiluMul(gateUp, c.IntermediateSize);
            var mlpOut = projector.Project(act, layer.mlp.down_proj.Matrix);
            x = Residual(h, layer.MlpOutputNorm is { } mlpOutputNorm ? Norm(mlpOutputNorm, mlpOut) : mlpOut).MoveToOuterDisposeScope();
        }
        // Only each sequence's last row needs logits.
        var last = batch.AllLastRows ? x : x.index_select(0, batch.LastRows);
        return SoftCap(projector.Project(Norm(model.norm, last), HeadMatrix), c.FinalLogitSoftcapping);
    }

    /// <summary>
    /// Attention of every row against its own sequence's cache, through the block tables. Decode rows (one token
    /// each) attend together: as managed loops over the cache blocks for float32 on the CPU (<see cref="PagedAttention"/>),
    /// otherwise as one attention over their gathered blocks with a padding mask. Prefill chunks get one attention each
    /// against their gathered prefix, grouped-query attention without K/V copies: the query heads that share a kv head
    /// are laid out as extra query rows of that head ([kv, group * T, hd]). Masks are explicit (SDPA's causal flag is
    /// top-left aligned, wrong for queries that start past position 0) and carry the layer's sliding window; scale and
    /// soft-cap come from the layer too (<see cref="LayerAttention"/>).
    /// </summary>
    private Tensor Attend(StepBatch batch, KvCache cache, int layer, Tensor qkv, LayerAttention spec, int threads)
    {
        var c = Config;
        int heads = c.NumAttentionHeads, kv = c.NumKeyValueHeads, g = c.KeyValueGroups;
        long hd = c.HeadDim;
        var window = spec.Window;
        var outputs = new List<Tensor>(batch.Sequences.Count);

        if (batch.DecodeRows > 0)
        {
            var d = batch.DecodeRows;
            if (cache.IsManaged && qkv.is_contiguous())
                outputs.Add(PagedAttention.DecodeAttention(qkv, d, heads, kv, (int)hd, batch.DecodeBlockTables, batch.PositionValues,
                    cache.Keys(layer), cache.Values(layer), spec, threads));
            else
            {
                var keys = cache.GatherDecode(layer, batch, isValue: false);           // [D, kv, M*B, hd]
                var values = cache.GatherDecode(layer, batch, isValue: true);
                var qd = qkv.narrow(0, 0, d).narrow(1, 0, heads * hd).reshape(d, kv, g, hd);  // query heads of a kv head as rows
                var y = ScaledDotProductAttention(qd, keys, values, batch.DecodeMask(window), spec, hd);
                outputs.Add(y.reshape(d, heads * hd));
            }
        }
        // Prefill chunks: one attention per sequence against its cache prefix [0, position + length).
        foreach (var s in batch.Sequences.Skip(batch.DecodeCount))
        {
            var t = s.Length;
            var blocks = batch.SequenceBlocks(s);
            var keys = cache.GatherSequence(layer, blocks, s.Position + t, isValue: false).unsqueeze(0); // [1, kv, S, hd]
            var values = cache.GatherSequence(layer, blocks, s.Position + t, isValue: true).unsqueeze(0);
            var qs = qkv.narrow(0, s.Row, t).narrow(1, 0, heads * hd).view(t, kv, g, hd).permute(1, 2, 0, 3).reshape(1, kv, g * t, hd);
            var y = ScaledDotProductAttention(qs, keys, values, batch.PrefillMask(s, window), spec, hd);   // [1, kv, g*T, hd]
            outputs.Add(y.view(kv, g, t, hd).permute(2, 0, 1, 3).reshape(t, kv * g * hd));
        }
        return outputs.Count == 1 ? outputs[0] : cat(outputs, 0);
    }
}
