using System.Text.Json;

namespace Bento.ModelGen;

/// <summary>
/// The multimodal Gemma 3 checkpoint layout (Gemma3ForConditionalGeneration, as gemma-3-4b-it and larger are
/// published with transformers 4.50): config.json holds the text model under text_config, next to a vision_config
/// and the image-token ids; the text model's tensors are named language_model.model.* (tied, so no lm_head); a SigLIP
/// vision tower (vision_tower.*) and its projector (multi_modal_projector.*) sit beside them. The vision part
/// generated here is a few small tensors: enough for a loader to have to leave it alone.
/// </summary>
public static class Gemma3Multimodal
{
    private const int VisionHidden = 16;

    /// <summary>The text_config keys gemma-3-4b-it's config.json writes (its sizes, window and global-layer scaling),
    /// plus the sizes a scaled model cannot leave to Gemma3TextConfig's defaults (heads, head_dim, vocabulary,
    /// query_pre_attn_scalar, which defaults to 256).</summary>
    private static readonly string[] TextKeys =
    [
        "head_dim", "hidden_size", "intermediate_size", "model_type", "num_attention_heads", "num_hidden_layers",
        "num_key_value_heads", "query_pre_attn_scalar", "rope_scaling", "sliding_window", "vocab_size",
    ];

    /// <summary>The stored name of text-model tensor <paramref name="name"/>.</summary>
    public static string StoredName(string name) => "language_model." + name;

    internal static byte[] ConfigJson(LlamaConfig c, IReadOnlyDictionary<string, Action<Utf8JsonWriter>> textKeys)
    {
        // The keys text_config leaves out must hold Gemma3TextConfig's defaults, or the checkpoint would mean another model.
        if (c.RopeTheta != 1_000_000.0 || (c.RopeLocalBaseFreq ?? 10000.0) != 10000.0 || c.RmsNormEps != 1e-6 ||
            (c.SlidingWindowPattern ?? 6) != 6 || c.AttnLogitSoftcapping is not null || c.FinalLogitSoftcapping is not null)
            throw new ArgumentException("a multimodal Gemma 3 config leaves rope_theta (1e6), rope_local_base_freq (10000), rms_norm_eps (1e-6), " +
                                        "sliding_window_pattern (6) and the soft-caps (none) to their defaults; this config changes one");
        return JsonText.Build(w =>
        {
            w.WriteStartObject();
            w.WriteStartArray("architectures");
            w.WriteStringValue("Gemma3ForConditionalGeneration");
            w.WriteEndArray();
            w.WriteNumber("boi_token_index", 255999);
            w.WriteNumber("eoi_token_index", 256000);
            textKeys["eos_token_id"](w);
            w.WriteNumber("image_token_index", 262144);
            JsonText.WritePythonFloat(w, "initializer_range", LlamaWeights.InitStdDev);
            w.WriteNumber("mm_tokens_per_image", 256);
            w.WriteString("model_type", "gemma3");
            w.WriteStartObject("text_config");
            // Left out, max_position_embeddings means Gemma3TextConfig's 131072; a generated model with another says so.
            var keys = c.MaxPositionEmbeddings == 131072 ? TextKeys : [.. TextKeys, "max_position_embeddings"];
            foreach (var key in keys.Order(StringComparer.Ordinal)) textKeys[key](w);
            w.WriteEndObject();
            w.WriteString("torch_dtype", c.TorchDtype);
            w.WriteStartObject("vision_config");
            w.WriteNumber("hidden_size", VisionHidden);
            w.WriteNumber("image_size", 896);
            w.WriteNumber("intermediate_size", 4 * VisionHidden);
            w.WriteString("model_type", "siglip_vision_model");
            w.WriteNumber("num_attention_heads", 2);
            w.WriteNumber("num_hidden_layers", 1);
            w.WriteNumber("patch_size", 14);
            w.WriteBoolean("vision_use_head", false);
            w.WriteEndObject();
            w.WriteEndObject();
        });
    }

    /// <summary>The text model's tensors under their stored names, then the vision tower's (random, seeded by name).</summary>
    internal static IReadOnlyList<TensorSource> Checkpoint(LlamaConfig c, IReadOnlyList<TensorSource> text, ulong seed)
    {
        var dtype = c.SafetensorsDtype;
        TensorSource Random(string name, long[] shape) =>
            TensorSource.FromIndependentChunks(name, dtype, shape, LlamaWeights.NormalChunk(StableHash.TensorSeed(seed, name)));
        return
        [
            .. text.Select(t => t with { Name = StoredName(t.Name) }),
            Random("multi_modal_projector.mm_input_projection_weight", [VisionHidden, c.HiddenSize]),
            TensorSource.Constant("multi_modal_projector.mm_soft_emb_norm.weight", dtype, [VisionHidden], 0f),
            Random("vision_tower.vision_model.embeddings.patch_embedding.weight", [VisionHidden, 3, 14, 14]),
            Random("vision_tower.vision_model.embeddings.patch_embedding.bias", [VisionHidden]),
            TensorSource.Constant("vision_tower.vision_model.post_layernorm.weight", dtype, [VisionHidden], 1f),
        ];
    }
}
