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
}
