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

/// <summary>y = x W^T (+ b for Qwen2's q/k/v); W is [out, in].</summary>
public sealed class LlamaLinear : nn.Module<Tensor, Tensor>
{
    public readonly Parameter weight;
    public readonly Parameter? bias;

    public LlamaLinear(Tensor weight, bool requiresGrad, Tensor? bias = null) : base(nameof(LlamaLinear))
    {
        this.weight = new Parameter(weight, requiresGrad);
        if (bias is not null) this.bias = new Parameter(bias, requiresGrad);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => F.linear(x, weight, bias);
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

/// <summary>Token embedding table [vocab, hidden].</summary>
public sealed class LlamaEmbedding : nn.Module<Tensor, Tensor>
{
    public readonly Parameter weight;

    public LlamaEmbedding(Tensor weight, bool requiresGrad) : base(nameof(LlamaEmbedding))
    {
        this.weight = new Parameter(weight, requiresGrad);
        RegisterComponents();
    }

    public override Tensor forward(Tensor ids)
    {
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
        Tensor? Bias(string name) => c.QkvBias ? w(name + ".bias") : null;
        q_proj = new LlamaLinear(w("q_proj.weight"), requiresGrad, Bias("q_proj"));
        k_proj = new LlamaLinear(w("k_proj.weight"), requiresGrad, Bias("k_proj"));
        v_proj = new LlamaLinear(w("v_proj.weight"), requiresGrad, Bias("v_proj"));
        o_proj = new LlamaLinear(w("o_proj.weight"), requiresGrad);
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
        gate_proj = new LlamaLinear(w("gate_proj.weight"), requiresGrad);
        up_proj = new LlamaLinear(w("up_proj.weight"), requiresGrad);
        down_proj = new LlamaLinear(w("down_proj.weight"), requiresGrad);
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
        embed_tokens = new LlamaEmbedding(w("embed_tokens.weight"), requiresGrad);
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
    /// as a parameter.</param>
    public LlamaForCausalLM(ModelConfig config, Func<string, Tensor> weights, bool requiresGrad = false) : base("LlamaForCausalLM")
    {
        config.Validate();
        Config = config;
        model = new LlamaBackbone(config, n => weights("model." + n), requiresGrad);
        lm_head = config.TieWordEmbeddings ? null : new LlamaLinear(weights("lm_head.weight"), requiresGrad);
        _rope = new RotaryTables(config, Math.Min(config.MaxPositionEmbeddings, 4096), model.embed_tokens.weight.dtype);
        RegisterComponents();
    }

    public ScalarType DType => model.embed_tokens.weight.dtype;

    /// <summary>The [vocab, hidden] matrix that produces logits (lm_head, or the embedding when tied).</summary>
    public Tensor HeadWeight => lm_head?.weight ?? model.embed_tokens.weight;

    /// <summary>The checkpoint tensor names a config needs (lm_head.weight only when untied): the build's layout.</summary>
    public static IEnumerable<string> WeightNames(ModelConfig c) => LlamaTensorLayout.Expected(c).Keys;

    /// <summary>
    /// Loads the model from a checkpoint. With the checkpoint's own dtype the parameters are views of the file
    /// mapping (no copy) unless <paramref name="copy"/>; another dtype converts (copies) each tensor. Once the
    /// checkpoint is disposed, copied tensors leave nothing of the mapping behind (weights are held once).
    /// </summary>
    public static LlamaForCausalLM FromCheckpoint(ModelConfig config, SafetensorsCheckpoint checkpoint, ScalarType dtype,
        bool requiresGrad = false, bool copy = false)
    {
        Tensor Load(string name)
        {
            var t = checkpoint.Get(name);
            if (t.dtype == dtype && !copy) return t;
            if (t.dtype == dtype)
            {
                var owned = t.clone();
                t.Dispose();
                return owned;
            }
            var converted = t.to(dtype);
            t.Dispose();
            return converted;
        }
        using var noGrad = no_grad();
        return new LlamaForCausalLM(config, Load, requiresGrad);
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
        var x = model.embed_tokens.forward(tokens);
        foreach (var layer in model.layers)
            x = layer.forward(x, cos, sin);
        return F.linear(model.norm.forward(x), HeadWeight);
    }

    /// <summary>
    /// The sliding window of layer <paramref name="layer"/> in tokens (a query sees itself and the window - 1 keys
    /// before it), or 0 for full attention. The one per-layer seam of attention's key range: masks and the managed
    /// decode attention read it. Every family served today attends fully (a Mistral/Qwen window is held to at least
    /// max_model_len, see ModelConfig.CheckServable), so this is 0.
    /// </summary>
    internal int AttentionWindow(int layer) => 0;

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
        var rope = Rope(batch.MaxPosition + 1);
        var x = model.embed_tokens.forward(batch.Tokens); // [N, H]
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
            // k (adjacent columns) in place, then keys and values go into the cache at each row's slot.
            var qkv = projector.Project(Norm(layer.input_layernorm, x), attn.q_proj.weight, attn.k_proj.weight, attn.v_proj.weight);
            attn.FinishProjection(qkv);
            var rotated = (heads + kvHeads) * hd;
            if (small)
                SmallBatchOps.RotaryInPlace(qkv, heads + kvHeads, (int)hd, batch.PositionValues, rope.Cos, rope.Sin);
            else
                qkv.narrow(1, 0, rotated).copy_(RotaryTables.Apply(qkv.narrow(1, 0, rotated).view(n, heads + kvHeads, hd), cos!, sin!).view(n, rotated));
            cache.Write(l, batch, qkv, heads * (int)hd, (heads + kvHeads) * (int)hd);

            var y = Attend(batch, cache, l, qkv, AttentionWindow(l), threads);           // [N, heads * hd]
            var h = x + projector.Project(y, attn.o_proj.weight);
            var gateUp = projector.Project(Norm(layer.post_attention_layernorm, h), layer.mlp.gate_proj.weight, layer.mlp.up_proj.weight);
            var inter = c.IntermediateSize;
            var act = small
                ? SmallBatchOps.SiluMul(gateUp, inter)
                : F.silu(gateUp.narrow(1, 0, inter)) * gateUp.narrow(1, inter, inter);
            x = (h + projector.Project(act, layer.mlp.down_proj.weight)).MoveToOuterDisposeScope();
        }
        // Only each sequence's last row needs logits.
        var last = batch.AllLastRows ? x : x.index_select(0, batch.LastRows);
        return projector.Project(Norm(model.norm, last), HeadWeight);
    }

    /// <summary>
    /// Attention of every row against its own sequence's cache, through the block tables. Decode rows (one token
    /// each) attend together: as managed loops over the cache blocks for float32 on the CPU (<see cref="PagedAttention"/>),
    /// otherwise as one SDPA over their gathered blocks with a padding mask. Prefill chunks get one SDPA each against
    /// their gathered prefix, grouped-query attention without K/V copies: the query heads that share a kv head are
    /// laid out as extra query rows of that head ([kv, group * T, hd]). Masks are explicit (SDPA's causal flag is
    /// top-left aligned, wrong for queries that start past position 0) and honour the layer's sliding window.
    /// </summary>
    private Tensor Attend(StepBatch batch, KvCache cache, int layer, Tensor qkv, int window, int threads)
    {
        var c = Config;
        int heads = c.NumAttentionHeads, kv = c.NumKeyValueHeads, g = c.KeyValueGroups;
        long hd = c.HeadDim;
        var outputs = new List<Tensor>(batch.Sequences.Count);

        if (batch.DecodeRows > 0)
        {
            var d = batch.DecodeRows;
            if (cache.IsManaged && qkv.is_contiguous())
                outputs.Add(PagedAttention.DecodeAttention(qkv, d, heads, kv, (int)hd, batch.DecodeBlockTables, batch.PositionValues,
                    cache.Keys(layer), cache.Values(layer), window, threads));
            else
            {
                var keys = cache.GatherDecode(layer, batch, isValue: false);           // [D, kv, M*B, hd]
                var values = cache.GatherDecode(layer, batch, isValue: true);
                var qd = qkv.narrow(0, 0, d).narrow(1, 0, heads * hd).reshape(d, kv, g, hd);  // query heads of a kv head as rows
                var y = F.scaled_dot_product_attention(qd, keys, values, batch.DecodeMask(window));
                outputs.Add(y.reshape(d, heads * hd));
            }
        }
        // Prefill chunks: one SDPA per sequence against its cache prefix [0, position + length).
        foreach (var s in batch.Sequences.Skip(batch.DecodeCount))
        {
            var t = s.Length;
            var blocks = batch.SequenceBlocks(s);
            var keys = cache.GatherSequence(layer, blocks, s.Position + t, isValue: false).unsqueeze(0); // [1, kv, S, hd]
            var values = cache.GatherSequence(layer, blocks, s.Position + t, isValue: true).unsqueeze(0);
            var qs = qkv.narrow(0, s.Row, t).narrow(1, 0, heads * hd).view(t, kv, g, hd).permute(1, 2, 0, 3).reshape(1, kv, g * t, hd);
            var y = F.scaled_dot_product_attention(qs, keys, values, batch.PrefillMask(s, window));   // [1, kv, g*T, hd]
            outputs.Add(y.view(kv, g, t, hd).permute(2, 0, 1, 3).reshape(t, kv * g * hd));
        }
        return outputs.Count == 1 ? outputs[0] : cat(outputs, 0);
    }
}
