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
// The same file serves the families that differ from Llama only inside attention (ModelContract.Architectures):
//   * Mistral: identical tensors (its sliding window is held to max_model_len, see ModelConfig.CheckServable).
//   * Qwen2/Qwen2.5: q = x Wq^T + bq, likewise k and v (o_proj has no bias).
//   * Qwen3: q and k each get an RMSNorm over head_dim per head (q_norm, k_norm), after the projection and before RoPE;
//     head_dim may differ from hidden / heads.
//
// Two forward paths share the same weights:
//   * forward(tokens[B,T]) -> logits[B,T,V]: the plain full-sequence causal forward, no cache. Differentiable, so
//     the model can be trained with autograd (parameters are created with requires_grad when asked).
//   * ForwardStep(batch, cache, projector): inference over a flat, ragged batch of tokens from several sequences
//     (decode tokens and prefill chunks mixed), appending keys/values to a preallocated KV cache. All token rows go
//     through each weight matrix together, so the weights are read once per step for the whole batch.
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
        return new LlamaLinear(weight, requiresGrad, bias ? w(name + ".bias") : null,
            WeightMatrix.IsQuantizedData(weight) ? w(name + ".weight_scale") : null);
    }

    public WeightMatrix Matrix { get; }

    public override Tensor forward(Tensor x)
    {
        if (weight.dtype == x.dtype) return F.linear(x, weight, bias);
        var y = Matrix.Linear(x);
        return bias is null ? y : y.add_(bias);
    }
}

/// <summary>RMSNorm: x / sqrt(mean(x^2) + eps) * weight, computed in float32 like transformers (TorchSharp 0.107 has none).</summary>
public sealed class LlamaRmsNorm : nn.Module<Tensor, Tensor>
{
    public readonly Parameter weight;
    private readonly double _eps;

    public LlamaRmsNorm(Tensor weight, double eps, bool requiresGrad) : base(nameof(LlamaRmsNorm))
    {
        this.weight = new Parameter(weight, requiresGrad);
        _eps = eps;
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var xf = x.dtype == ScalarType.Float32 ? x : x.to(ScalarType.Float32);
        var normed = xf * (xf.square().mean([-1], keepdim: true) + _eps).rsqrt_();
        return (weight * (x.dtype == ScalarType.Float32 ? normed : normed.to(x.dtype))).MoveToOuterDisposeScope();
    }
}

/// <summary>Token embedding table [vocab, hidden], float or int8 with per-row scales (then also the tied head).</summary>
public sealed class LlamaEmbedding : nn.Module<Tensor, Tensor>
{
    public readonly Parameter weight;
    public readonly Parameter? weight_scale;

    public LlamaEmbedding(Tensor weight, bool requiresGrad, Tensor? weightScale = null) : base(nameof(LlamaEmbedding))
    {
        this.weight = new Parameter(weight, requiresGrad && weightScale is null);
        if (weightScale is not null) weight_scale = new Parameter(weightScale, false);
        Matrix = WeightMatrix.From(this.weight, weight_scale);
        RegisterComponents();
    }

    public static LlamaEmbedding Load(Func<string, Tensor> w, string name, bool requiresGrad)
    {
        var weight = w(name + ".weight");
        return new LlamaEmbedding(weight, requiresGrad, WeightMatrix.IsQuantizedData(weight) ? w(name + ".weight_scale") : null);
    }

    public WeightMatrix Matrix { get; }

    public override Tensor forward(Tensor ids) => Lookup(ids, weight.dtype is ScalarType.Int8 or ScalarType.Byte ? ScalarType.Float32 : weight.dtype);

    /// <summary>The rows of <paramref name="ids"/> as <paramref name="dtype"/> (differentiable for a float table already in it).</summary>
    public Tensor Lookup(Tensor ids, ScalarType dtype)
    {
        if (Matrix.IsQuantized || weight.dtype != dtype) return Matrix.Gather(ids, dtype);
        var shape = ids.shape.Append(weight.shape[1]).ToArray();
        return weight.index_select(0, ids.reshape(-1)).view(shape);
    }
}

/// <summary>
/// Rotary position embedding tables (cos and sin, [positions, head_dim], rotate-half layout) from the config's
/// inverse frequencies, rope_scaling included. Not a module: the tables are derived, never trained or saved.
/// </summary>
public sealed class RotaryTables : IDisposable
{
    public RotaryTables(ModelConfig config, int positions, ScalarType dtype)
    {
        var inv = config.RopeInverseFrequencies();
        var half = inv.Length;
        var cos = new float[positions * 2 * half];
        var sin = new float[positions * 2 * half];
        for (var p = 0; p < positions; p++)
            for (var i = 0; i < half; i++)
            {
                var angle = p * inv[i];
                float c = (float)Math.Cos(angle), s = (float)Math.Sin(angle);
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

    /// <summary>x * cos + rotate_half(x) * sin; x is [..., head_dim], cos/sin broadcast against it.</summary>
    public static Tensor Apply(Tensor x, Tensor cos, Tensor sin)
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
    public readonly LlamaLinear q_proj, k_proj, v_proj, o_proj;

    /// <summary>Qwen3's per-head RMSNorms on queries and keys (weights [head_dim]); null for the other families.</summary>
    public readonly LlamaRmsNorm? q_norm, k_norm;

    private readonly ModelConfig _c;

    public LlamaAttention(ModelConfig c, Func<string, Tensor> w, bool requiresGrad) : base(nameof(LlamaAttention))
    {
        _c = c;
        q_proj = LlamaLinear.Load(w, "q_proj", requiresGrad, c.QkvBias);
        k_proj = LlamaLinear.Load(w, "k_proj", requiresGrad, c.QkvBias);
        v_proj = LlamaLinear.Load(w, "v_proj", requiresGrad, c.QkvBias);
        o_proj = LlamaLinear.Load(w, "o_proj", requiresGrad);
        if (c.QkNorm)
        {
            q_norm = new LlamaRmsNorm(w("q_norm.weight"), c.RmsNormEps, requiresGrad);
            k_norm = new LlamaRmsNorm(w("k_norm.weight"), c.RmsNormEps, requiresGrad);
        }
        RegisterComponents();
    }

    /// <summary>Full-sequence causal self-attention: x [B,T,H], cos/sin [T,head_dim].</summary>
    public override Tensor forward(Tensor x, Tensor cos, Tensor sin)
    {
        long b = x.shape[0], t = x.shape[1], hd = _c.HeadDim;
        var q = q_proj.forward(x).view(b, t, _c.NumAttentionHeads, hd);
        var k = k_proj.forward(x).view(b, t, _c.NumKeyValueHeads, hd);
        if (q_norm is not null) (q, k) = (q_norm.forward(q), k_norm!.forward(k));
        q = q.transpose(1, 2);
        k = k.transpose(1, 2);
        var v = v_proj.forward(x).view(b, t, _c.NumKeyValueHeads, hd).transpose(1, 2);
        q = RotaryTables.Apply(q, cos, sin);
        k = RotaryTables.Apply(k, cos, sin);
        if (_c.KeyValueGroups > 1)
        {
            // SDPA in TorchSharp 0.107 has no enable_gqa: give every query head its own copy of its kv head.
            k = k.repeat_interleave(_c.KeyValueGroups, dim: 1);
            v = v.repeat_interleave(_c.KeyValueGroups, dim: 1);
        }
        // Query and key lengths are equal here, so SDPA's (top-left aligned) causal flag is the right mask.
        var y = F.scaled_dot_product_attention(q, k, v, is_casual: true);
        return o_proj.forward(y.transpose(1, 2).reshape(b, t, _c.NumAttentionHeads * hd));
    }

    /// <summary>
    /// What the families add between the fused projection and RoPE, in place on qkv [N, (heads + 2 kv_heads) * hd]
    /// (columns q | k | v): Qwen2's biases, Qwen3's per-head norms. Nothing for Llama and Mistral.
    /// </summary>
    internal void FinishProjection(Tensor qkv)
    {
        long n = qkv.shape[0], hd = _c.HeadDim, q = _c.NumAttentionHeads * hd, kv = _c.NumKeyValueHeads * hd;
        if (q_proj.bias is not null)
        {
            qkv.narrow(1, 0, q).add_(q_proj.bias);
            qkv.narrow(1, q, kv).add_(k_proj.bias!);
            qkv.narrow(1, q + kv, kv).add_(v_proj.bias!);
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
    public readonly LlamaLinear gate_proj, up_proj, down_proj;

    public LlamaMlp(Func<string, Tensor> w, bool requiresGrad) : base(nameof(LlamaMlp))
    {
        gate_proj = LlamaLinear.Load(w, "gate_proj", requiresGrad);
        up_proj = LlamaLinear.Load(w, "up_proj", requiresGrad);
        down_proj = LlamaLinear.Load(w, "down_proj", requiresGrad);
        RegisterComponents();
    }

    /// <summary>SwiGLU: down(silu(gate(x)) * up(x)).</summary>
    public override Tensor forward(Tensor x) => down_proj.forward(F.silu(gate_proj.forward(x)) * up_proj.forward(x));
}

public sealed class LlamaDecoderLayer : nn.Module<Tensor, Tensor, Tensor, Tensor>
{
    public readonly LlamaAttention self_attn;
    public readonly LlamaMlp mlp;
    public readonly LlamaRmsNorm input_layernorm, post_attention_layernorm;

    public LlamaDecoderLayer(ModelConfig c, Func<string, Tensor> w, bool requiresGrad) : base(nameof(LlamaDecoderLayer))
    {
        self_attn = new LlamaAttention(c, n => w("self_attn." + n), requiresGrad);
        mlp = new LlamaMlp(n => w("mlp." + n), requiresGrad);
        input_layernorm = new LlamaRmsNorm(w("input_layernorm.weight"), c.RmsNormEps, requiresGrad);
        post_attention_layernorm = new LlamaRmsNorm(w("post_attention_layernorm.weight"), c.RmsNormEps, requiresGrad);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x, Tensor cos, Tensor sin)
    {
        var h = x + self_attn.forward(input_layernorm.forward(x), cos, sin);
        return h + mlp.forward(post_attention_layernorm.forward(h));
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
        embed_tokens = LlamaEmbedding.Load(w, "embed_tokens", requiresGrad);
        layers = new ModuleList<LlamaDecoderLayer>(Enumerable.Range(0, c.NumHiddenLayers)
            .Select(i => new LlamaDecoderLayer(c, n => w($"layers.{i}.{n}"), requiresGrad)).ToArray());
        norm = new LlamaRmsNorm(w("norm.weight"), c.RmsNormEps, requiresGrad);
        RegisterComponents();
    }
}

/// <summary>
/// HF's <c>LlamaForCausalLM</c>: the backbone plus the language-model head (absent when the embeddings are tied;
/// the embedding matrix is then the head).
/// </summary>
public sealed class LlamaForCausalLM : nn.Module<Tensor, Tensor>
{
    public readonly LlamaBackbone model;
    public readonly LlamaLinear? lm_head;
    private RotaryTables _rope;

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
        _rope = new RotaryTables(config, Math.Min(config.MaxPositionEmbeddings, 4096), ComputeDtype);
        RegisterComponents();
    }

    /// <summary>The dtype activations, norms, rotary tables and the KV cache use; the weight matrices keep their own.</summary>
    public ScalarType ComputeDtype { get; }

    public ScalarType DType => ComputeDtype;

    /// <summary>The [vocab, hidden] matrix that produces logits (lm_head, or the embedding when tied).</summary>
    public Tensor HeadWeight => lm_head?.weight ?? model.embed_tokens.weight;

    /// <summary><see cref="HeadWeight"/> with its format (and scales): what the step multiplies.</summary>
    public WeightMatrix HeadMatrix => lm_head?.Matrix ?? model.embed_tokens.Matrix;

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

    /// <summary>A freshly initialised model (normal(0, <paramref name="std"/>) matrices, zero biases, unit norms) for
    /// training.</summary>
    public static LlamaForCausalLM CreateRandom(ModelConfig config, long seed, ScalarType dtype = ScalarType.Float32, double std = 0.02, bool requiresGrad = true)
    {
        var generator = new Generator((ulong)seed);
        var shapes = LlamaTensorLayout.Expected(config);
        long[] Shape(string name) => shapes.TryGetValue(name, out var shape) ? shape
            : throw new ArgumentException($"tensor '{name}' is not part of {config.Architecture}");
        Tensor Init(string name) =>
            name.EndsWith("norm.weight") ? ones(Shape(name), dtype)
            : name.EndsWith(".bias") ? zeros(Shape(name), dtype)
            : (randn(Shape(name), ScalarType.Float32, generator: generator) * std).to(dtype);
        using var noGrad = no_grad();
        return new LlamaForCausalLM(config, Init, requiresGrad);
    }

    internal RotaryTables Rope(int positions)
    {
        if (_rope.Positions < positions)
        {
            _rope.Dispose();
            _rope = new RotaryTables(Config, positions, DType);
        }
        return _rope;
    }

    /// <summary>Plain full-sequence causal forward: tokens [B,T] (int64) -> logits [B,T,vocab]. No KV cache.</summary>
    public override Tensor forward(Tensor tokens)
    {
        var t = (int)tokens.shape[1];
        var rope = Rope(t);
        var cos = rope.Cos.narrow(0, 0, t);
        var sin = rope.Sin.narrow(0, 0, t);
        var x = model.embed_tokens.Lookup(tokens, ComputeDtype);
        foreach (var layer in model.layers)
            x = layer.forward(x, cos, sin);
        return HeadMatrix.Linear(model.norm.forward(x));
    }

    /// <summary>
    /// One cached inference step over <paramref name="batch"/> (flat token rows of several sequences, see
    /// <see cref="StepBatch"/>): writes each row's key/value into <paramref name="cache"/> at (slot, position) and
    /// returns the logits of each sequence's last row, [sequences, vocab]. Every matrix multiply goes through
    /// <paramref name="projector"/> for all rows at once.
    /// </summary>
    public Tensor ForwardStep(StepBatch batch, KvCache cache, Projector projector)
    {
        var c = Config;
        long n = batch.Tokens.shape[0], hd = c.HeadDim;
        int heads = c.NumAttentionHeads, kvHeads = c.NumKeyValueHeads;
        var rope = Rope(cache.MaxSequenceLength);
        var x = model.embed_tokens.Lookup(batch.Tokens, ComputeDtype); // [N, H]
        // Small float32 batches (decode) run the element-wise steps as managed loops (see SmallBatchOps): in decode
        // LibTorch's per-op cost, not arithmetic, would dominate them.
        var small = projector.UsesManagedKernel && SmallBatchOps.Applies(x);
        var cos = small ? null : rope.Cos.index_select(0, batch.Positions).unsqueeze(1); // [N, 1, hd]
        var sin = small ? null : rope.Sin.index_select(0, batch.Positions).unsqueeze(1);
        Tensor Norm(LlamaRmsNorm norm, Tensor input) =>
            small ? SmallBatchOps.RmsNorm(input, norm.weight, c.RmsNormEps) : norm.forward(input);

        for (var l = 0; l < c.NumHiddenLayers; l++)
        {
            var layer = model.layers[l];
            var attn = layer.self_attn;
            using var scope = NewDisposeScope();

            // q, k and v in one pass over the weights: [N, (heads + 2 kv_heads) * hd], then rotary embedding on q and
            // k (adjacent columns), then keys and values go into the cache at each row's (slot, position).
            var qkv = projector.Project(Norm(layer.input_layernorm, x), attn.q_proj.Matrix, attn.k_proj.Matrix, attn.v_proj.Matrix);
            attn.FinishProjection(qkv);
            Tensor? q = null;
            if (small)
            {
                SmallBatchOps.RotaryInPlace(qkv, heads + kvHeads, (int)hd, batch.PositionValues, rope.Cos, rope.Sin);
                SmallBatchOps.WriteCache(qkv, heads * (int)hd, (heads + kvHeads) * (int)hd, kvHeads, (int)hd,
                    batch.SlotValues, batch.PositionValues, cache.Keys(l), cache.Values(l));
            }
            else
            {
                var qk = RotaryTables.Apply(qkv.narrow(1, 0, (heads + kvHeads) * hd).view(n, heads + kvHeads, hd), cos!, sin!);
                q = qk.narrow(1, 0, heads);                                              // [N, heads, hd]
                var k = qk.narrow(1, heads, kvHeads);                                    // [N, kv, hd]
                var v = qkv.narrow(1, (heads + kvHeads) * hd, kvHeads * hd).view(n, kvHeads, hd);
                cache.Write(l, batch, k, v);
            }

            var y = small && batch.DecodeCount == n                                     // [N, heads * hd]
                ? SmallBatchOps.DecodeAttention(qkv, (int)n, heads, kvHeads, (int)hd, batch.SlotValues, batch.PositionValues, cache.Keys(l), cache.Values(l))
                : Attend(batch, cache, l, q ?? qkv.narrow(1, 0, heads * hd).view(n, heads, hd));
            var h = x + projector.Project(y, attn.o_proj.Matrix);
            var gateUp = projector.Project(Norm(layer.post_attention_layernorm, h), layer.mlp.gate_proj.Matrix, layer.mlp.up_proj.Matrix);
            var inter = c.IntermediateSize;
            var act = small
                ? SmallBatchOps.SiluMul(gateUp, inter)
                : F.silu(gateUp.narrow(1, 0, inter)) * gateUp.narrow(1, inter, inter);
            x = (h + projector.Project(act, layer.mlp.down_proj.Matrix)).MoveToOuterDisposeScope();
        }
        // Only each sequence's last row needs logits.
        var last = batch.AllLastRows ? x : x.index_select(0, batch.LastRows);
        return projector.Project(Norm(model.norm, last), HeadMatrix);
    }

    /// <summary>
    /// Attention of every row against its own sequence's cache. Grouped-query attention without copying K/V: the
    /// query heads that share a kv head are laid out as extra query rows of that kv head ([kv, group * T, hd]).
    /// Masks are explicit (SDPA's causal flag is top-left aligned, wrong for queries that start past position 0).
    /// </summary>
    private Tensor Attend(StepBatch batch, KvCache cache, int layer, Tensor q)
    {
        var c = Config;
        int kv = c.NumKeyValueHeads, g = c.KeyValueGroups;
        long hd = c.HeadDim;
        var outputs = new List<Tensor>(batch.Sequences.Count);

        // Decode rows (one token per sequence) first: one batched SDPA over the gathered cache, padding masked.
        if (batch.DecodeCount > 0)
        {
            var d = batch.DecodeCount;
            var keys = cache.Gather(layer, batch, isValue: false);   // [D, kv, S, hd]
            var values = cache.Gather(layer, batch, isValue: true);
            var qd = q.narrow(0, 0, d).reshape(d, kv, g, hd);          // query heads of a kv head as rows
            var y = F.scaled_dot_product_attention(qd, keys, values, batch.DecodeMask);
            outputs.Add(y.reshape(d, kv * g * hd));
        }
        // Prefill chunks: one SDPA per sequence against its cache prefix [0, position + length).
        foreach (var s in batch.Sequences.Skip(batch.DecodeCount))
        {
            var t = s.Length;
            var keys = cache.Prefix(layer, s.Slot, s.Position + t, isValue: false).unsqueeze(0); // [1, kv, S, hd]
            var values = cache.Prefix(layer, s.Slot, s.Position + t, isValue: true).unsqueeze(0);
            var qs = q.narrow(0, s.Row, t).view(t, kv, g, hd).permute(1, 2, 0, 3).reshape(1, kv, g * t, hd);
            var y = F.scaled_dot_product_attention(qs, keys, values, s.Mask);            // [1, kv, g*T, hd]
            outputs.Add(y.view(kv, g, t, hd).permute(2, 0, 1, 3).reshape(t, kv * g * hd));
        }
        return outputs.Count == 1 ? outputs[0] : cat(outputs, 0);
    }
}
