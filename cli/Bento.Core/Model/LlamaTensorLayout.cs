namespace Bento.Core.Model;

/// <summary>
/// The tensors a Hugging Face checkpoint of a Llama-shaped family (Llama, Mistral, Qwen2, Qwen3, Phi-3, Gemma 2/3) must
/// hold, by name and shape, derived from its config: the tensor part of <see cref="ModelContract"/>. The runtime loads
/// exactly these names, so a missing Qwen2 bias, a Phi-3 qkv_proj of the wrong height or a Gemma without its
/// post-feed-forward norm is refused at build.
/// </summary>
public static class LlamaTensorLayout
{
    public static IReadOnlyDictionary<string, long[]> Expected(ModelConfig c)
    {
        long h = c.HiddenSize, q = (long)c.NumAttentionHeads * c.HeadDim, kv = (long)c.NumKeyValueHeads * c.HeadDim, i = c.IntermediateSize;
        var shapes = new Dictionary<string, long[]>(StringComparer.Ordinal)
        {
            ["model.embed_tokens.weight"] = [c.VocabSize, h],
            ["model.norm.weight"] = [h],
        };
        if (!c.TieWordEmbeddings) shapes["lm_head.weight"] = [c.VocabSize, h];
        for (var layer = 0; layer < c.NumHiddenLayers; layer++)
        {
            var p = $"model.layers.{layer}.";
            if (c.FusedProjections)
            {
                shapes[p + "self_attn.qkv_proj.weight"] = [q + 2 * kv, h];
            }
            else
            {
                shapes[p + "self_attn.q_proj.weight"] = [q, h];
                shapes[p + "self_attn.k_proj.weight"] = [kv, h];
                shapes[p + "self_attn.v_proj.weight"] = [kv, h];
            }
            shapes[p + "self_attn.o_proj.weight"] = [h, q];
            if (c.QkvBias)
            {
                shapes[p + "self_attn.q_proj.bias"] = [q];
                shapes[p + "self_attn.k_proj.bias"] = [kv];
                shapes[p + "self_attn.v_proj.bias"] = [kv];
            }
            if (c.QkNorm)
            {
                shapes[p + "self_attn.q_norm.weight"] = [c.HeadDim];
                shapes[p + "self_attn.k_norm.weight"] = [c.HeadDim];
            }
            if (c.FusedProjections)
            {
                shapes[p + "mlp.gate_up_proj.weight"] = [2 * i, h];
            }
            else
            {
                shapes[p + "mlp.gate_proj.weight"] = [i, h];
                shapes[p + "mlp.up_proj.weight"] = [i, h];
            }
            shapes[p + "mlp.down_proj.weight"] = [h, i];
            shapes[p + "input_layernorm.weight"] = [h];
            shapes[p + "post_attention_layernorm.weight"] = [h];
            if (c.GemmaBlock)
            {
                shapes[p + "pre_feedforward_layernorm.weight"] = [h];
                shapes[p + "post_feedforward_layernorm.weight"] = [h];
            }
        }
        return shapes;
    }

    /// <summary>Tensors older exports carry that the runtime recomputes and may ignore.</summary>
    public static bool IsIgnorable(string name) => name.EndsWith(".rotary_emb.inv_freq", StringComparison.Ordinal);
}
