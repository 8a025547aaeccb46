using System.Text.Json;

namespace Bento.ModelGen.Tests;

/// <summary>Qwen2 and Qwen3 folders carry the keys and tensors of their published checkpoints.</summary>
public class ModelFamilyTests
{
    private static LlamaConfig Config(ModelFamily family, int? headDim = null)
    {
        var c = new LlamaConfig
        {
            Family = family, VocabSize = 600, HiddenSize = 64, IntermediateSize = 96, NumHiddenLayers = 2, NumAttentionHeads = 4,
            NumKeyValueHeads = 2, TieWordEmbeddings = true, RopeTheta = 1e6, BosTokenId = 595, EosTokenId = 596,
        };
        return headDim is { } d ? c with { HeadDim = d } : c;
    }

    [Fact]
    public void FamilyAndHeadDimAreParsed()
    {
        var (_, build) = CommandLine.Parse(["random", "out", "--hidden", "64", "--heads", "4", "--kv-heads", "2", "--family", "qwen3", "--head-dim", "32"]);
        var c = build().Config;
        Assert.Equal((ModelFamily.Qwen3, 32), (c.Family, c.HeadDim));
    }

    [Fact]
    public void Qwen2ConfigHasQwen25KeysAndNoHeadDim()
    {
        using var doc = JsonDocument.Parse(Config(ModelFamily.Qwen2).ToConfigJson());
        var root = doc.RootElement;
        Assert.Equal("Qwen2ForCausalLM", root.GetProperty("architectures")[0].GetString());
        Assert.Equal("qwen2", root.GetProperty("model_type").GetString());
        Assert.False(root.GetProperty("use_sliding_window").GetBoolean());
        Assert.Equal(2048, root.GetProperty("sliding_window").GetInt32());
        Assert.False(root.TryGetProperty("head_dim", out _));
        Assert.False(root.TryGetProperty("attention_bias", out _));
        var keys = root.EnumerateObject().Select(p => p.Name).ToList();
        Assert.Equal(keys.Order(StringComparer.Ordinal), keys); // transformers writes sort_keys=True
    }

    [Fact]
    public void Qwen3ConfigWritesItsOwnHeadDim()
    {
        using var doc = JsonDocument.Parse(Config(ModelFamily.Qwen3, headDim: 32).ToConfigJson());
        Assert.Equal(32, doc.RootElement.GetProperty("head_dim").GetInt32());
        Assert.Equal(JsonValueKind.Null, doc.RootElement.GetProperty("sliding_window").ValueKind);
        Assert.False(doc.RootElement.GetProperty("attention_bias").GetBoolean());
    }

    [Fact]
    public void EachFamilyAddsOnlyItsTensors()
    {
        var llama = LlamaWeights.Describe(Config(ModelFamily.Llama)).ToDictionary(t => t.Name);
        var qwen2 = LlamaWeights.Describe(Config(ModelFamily.Qwen2)).ToDictionary(t => t.Name);
        var qwen3 = LlamaWeights.Describe(Config(ModelFamily.Qwen3, headDim: 32)).ToDictionary(t => t.Name);
        Assert.Equal(["q_proj.bias", "k_proj.bias", "v_proj.bias"],
            qwen2.Keys.Except(llama.Keys).Where(n => n.StartsWith("model.layers.0.", StringComparison.Ordinal)).Select(n => n["model.layers.0.self_attn.".Length..]));
        Assert.Equal([64L], qwen2["model.layers.1.self_attn.q_proj.bias"].Shape);   // 4 heads x 16
        Assert.Equal([32L], qwen2["model.layers.1.self_attn.k_proj.bias"].Shape);
        Assert.Equal(["q_norm.weight", "k_norm.weight"],
            qwen3.Keys.Except(llama.Keys).Where(n => n.StartsWith("model.layers.0.", StringComparison.Ordinal)).Select(n => n["model.layers.0.self_attn.".Length..]));
        Assert.True(qwen3["model.layers.0.self_attn.q_norm.weight"].IsNormWeight);
        Assert.Equal([32L], qwen3["model.layers.0.self_attn.k_norm.weight"].Shape);
        Assert.Equal([128L, 64L], qwen3["model.layers.0.self_attn.q_proj.weight"].Shape); // 4 heads x head_dim 32
        Assert.Equal([64L, 128L], qwen3["model.layers.0.self_attn.o_proj.weight"].Shape);
    }

    private static JsonElement Published(string like, int maxPositions = 4096, int heads = 4, int? headDim = null)
    {
        var c = PublishedConfigs.Apply(like, Config(ModelFamily.Llama, headDim) with { NumAttentionHeads = heads, MaxPositionEmbeddings = maxPositions });
        using var doc = JsonDocument.Parse(c.ToConfigJson());
        return doc.RootElement.Clone();
    }

    private static string[] Keys(JsonElement root) => root.EnumerateObject().Select(p => p.Name).ToArray();

    [Fact]
    public void Phi3TemplatesCarryThePublishedKeysScaledToTheContext()
    {
        var mini4k = Published("phi-3-mini-4k-instruct", maxPositions: 512);
        Assert.Equal([
            "architectures", "attention_bias", "attention_dropout", "bos_token_id", "embd_pdrop", "eos_token_id", "hidden_act", "hidden_size",
            "initializer_range", "intermediate_size", "max_position_embeddings", "model_type", "num_attention_heads", "num_hidden_layers",
            "num_key_value_heads", "original_max_position_embeddings", "pad_token_id", "resid_pdrop", "rms_norm_eps", "rope_scaling", "rope_theta",
            "sliding_window", "tie_word_embeddings", "torch_dtype", "use_cache", "vocab_size"], Keys(mini4k));
        Assert.Equal(("Phi3ForCausalLM", "phi3", 255, 512), (mini4k.GetProperty("architectures")[0].GetString(), mini4k.GetProperty("model_type").GetString(),
            mini4k.GetProperty("sliding_window").GetInt32(), mini4k.GetProperty("original_max_position_embeddings").GetInt32())); // 2047 / 4096
        Assert.Equal(JsonValueKind.Null, mini4k.GetProperty("rope_scaling").ValueKind);

        var phi4 = Published("phi-4-mini-instruct", maxPositions: 8192, heads: 2); // head_dim 32, 24 of it rotated
        Assert.Equal(0.75, phi4.GetProperty("partial_rotary_factor").GetDouble());
        Assert.True(phi4.GetProperty("tie_word_embeddings").GetBoolean());
        Assert.Equal((256, 16384), (phi4.GetProperty("original_max_position_embeddings").GetInt32(), phi4.GetProperty("sliding_window").GetInt32()));
        var scaling = phi4.GetProperty("rope_scaling");
        Assert.Equal("longrope", scaling.GetProperty("type").GetString());
        var longFactor = scaling.GetProperty("long_factor").EnumerateArray().Select(v => v.GetDouble()).ToArray();
        Assert.Equal(12, longFactor.Length);
        Assert.Equal(1.0800000429153442, longFactor[0]); // Phi-3.5-mini's published first factor, resampled
        Assert.Equal(longFactor.Order(), longFactor);
        foreach (var key in new[] { "full_attn_mod", "interpolate_factor", "lm_head_bias", "mlp_bias" }) Assert.True(phi4.TryGetProperty(key, out _), key);
    }

    [Fact]
    public void GemmaTemplatesCarryThePublishedKeys()
    {
        var gemma2 = Published("gemma-2-2b-it", maxPositions: 512, headDim: 32);
        Assert.False(gemma2.TryGetProperty("tie_word_embeddings", out _)); // Gemma ties by default; the published file omits the key
        Assert.False(gemma2.TryGetProperty("rope_scaling", out _));
        Assert.Equal(("gelu_pytorch_tanh", "gelu_pytorch_tanh", 50.0, 30.0, 32, 256, "hybrid"), (
            gemma2.GetProperty("hidden_act").GetString(), gemma2.GetProperty("hidden_activation").GetString(),
            gemma2.GetProperty("attn_logit_softcapping").GetDouble(), gemma2.GetProperty("final_logit_softcapping").GetDouble(),
            gemma2.GetProperty("query_pre_attn_scalar").GetInt32(), gemma2.GetProperty("sliding_window").GetInt32(),
            gemma2.GetProperty("cache_implementation").GetString()));

        var gemma3 = Published("gemma-3-1b-it", maxPositions: 32768, headDim: 32);
        Assert.Equal(("Gemma3ForCausalLM", "gemma3_text", 512, 6, 10000.0, 1_000_000.0), (
            gemma3.GetProperty("architectures")[0].GetString(), gemma3.GetProperty("model_type").GetString(),
            gemma3.GetProperty("sliding_window").GetInt32(), gemma3.GetProperty("sliding_window_pattern").GetInt32(),
            gemma3.GetProperty("rope_local_base_freq").GetDouble(), gemma3.GetProperty("rope_theta").GetDouble()));
        Assert.False(gemma3.TryGetProperty("hidden_act", out _));
        Assert.Equal(JsonValueKind.Null, gemma3.GetProperty("attn_logit_softcapping").ValueKind);
        Assert.Equal(JsonValueKind.Null, gemma3.GetProperty("final_logit_softcapping").ValueKind);
        foreach (var root in new[] { gemma2, gemma3 })
            Assert.Equal(Keys(root).Order(StringComparer.Ordinal), Keys(root));
    }

    [Fact]
    public void Phi3AndGemmaAddOnlyTheirTensors()
    {
        var phi = LlamaWeights.Describe(PublishedConfigs.Apply("phi-3-mini-4k-instruct", Config(ModelFamily.Llama))).ToDictionary(t => t.Name);
        Assert.Equal([128L, 64L], phi["model.layers.0.self_attn.qkv_proj.weight"].Shape);   // (4 + 2 x 2 kv) heads x 16
        Assert.Equal([192L, 64L], phi["model.layers.0.mlp.gate_up_proj.weight"].Shape);     // 2 x 96
        Assert.DoesNotContain("model.layers.0.self_attn.q_proj.weight", phi.Keys);
        Assert.DoesNotContain("model.layers.0.mlp.gate_proj.weight", phi.Keys);

        var gemma3 = LlamaWeights.Describe(PublishedConfigs.Apply("gemma-3-1b-it", Config(ModelFamily.Llama, headDim: 32))).ToDictionary(t => t.Name);
        foreach (var norm in new[] { "input_layernorm", "post_attention_layernorm", "pre_feedforward_layernorm", "post_feedforward_layernorm", "self_attn.q_norm" })
        {
            var spec = gemma3[$"model.layers.1.{norm}.weight"];
            Assert.True(spec.IsNormWeight);
            Assert.Equal(0f, spec.NormIdentity); // Gemma's (1 + w): zero is the identity
        }
        Assert.DoesNotContain("lm_head.weight", gemma3.Keys);
    }

    [Fact]
    public void LikeAndSlidingWindowAreParsed()
    {
        var (_, build) = CommandLine.Parse(["random", "out", "--hidden", "64", "--heads", "4", "--kv-heads", "2", "--head-dim", "32",
            "--like", "gemma-3-1b-it", "--sliding-window", "8", "--max-position", "256"]);
        var c = build().Config;
        Assert.Equal((ModelFamily.Gemma3, 8, 6, 32), (c.Family, c.SlidingWindow, c.SlidingWindowPattern, c.HeadDim));
        var (_, phi) = CommandLine.Parse(["random", "out", "--hidden", "64", "--heads", "4", "--kv-heads", "2", "--family", "phi3"]);
        Assert.Equal((ModelFamily.Phi3, 1023), (phi().Config.Family, phi().Config.SlidingWindow)); // Phi-3-mini-4k's default
    }
}
