using System.Text.Json.Nodes;
using Bento.Core.Model;
using Bento.ModelGen;
using static Bento.Core.Tests.QwenContractTests;

namespace Bento.Core.Tests;

/// <summary>
/// Phi-3 / Phi-4-mini and Gemma 2 / Gemma 3 in the one model contract: folders with the published config keys build,
/// and checkpoints or configs the runtime could not serve as they claim are refused at build naming the tensor or key,
/// with the store untouched.
/// </summary>
public class PhiGemmaContractTests : StoreTestBase
{
    [Theory]
    [InlineData(ModelFamily.Phi3, "Phi3ForCausalLM")]
    [InlineData(ModelFamily.Gemma2, "Gemma2ForCausalLM")]
    [InlineData(ModelFamily.Gemma3, "Gemma3ForCausalLM")]
    public async Task A_folder_with_the_published_config_keys_builds(ModelFamily family, string architecture)
    {
        var dir = await ModelFixture.BuildDirectoryAsync(Temp, family: family);
        var built = await BuildAsync(dir);
        Assert.Equal(architecture, built.Bento.Manifest.Model.Architecture);
        var config = (await ModelInspector.InspectAsync(dir)).Config;
        Assert.True(config.TieWordEmbeddings);
        if (family == ModelFamily.Phi3) Assert.Equal((32, 24, "longrope"), (config.HeadDim, config.RotaryDim, config.RopeScaling!.Type));
        else Assert.True(config.GemmaBlock);
    }

    [Fact]
    public async Task A_phi3_checkpoint_with_separate_projections_is_refused_naming_the_tensor()
    {
        var dir = await ModelFixture.BuildDirectoryAsync(Temp, family: ModelFamily.Phi3);
        EditHeader(dir, h => { h["model.layers.0.self_attn.q_proj.weight"] = h["model.layers.0.self_attn.qkv_proj.weight"]!.DeepClone(); h.Remove("model.layers.0.self_attn.qkv_proj.weight"); });
        var message = await BuildRefusedAsync(dir);
        Assert.Contains("unexpected tensor 'model.layers.0.self_attn.q_proj.weight' for Phi3ForCausalLM", message);
    }

    [Fact]
    public async Task A_phi3_gate_up_proj_of_the_wrong_shape_is_refused_naming_it()
    {
        var dir = await ModelFixture.BuildDirectoryAsync(Temp, family: ModelFamily.Phi3);
        EditHeader(dir, h => h["model.layers.1.mlp.gate_up_proj.weight"]!["shape"] = new JsonArray(128, 256));
        var message = await BuildRefusedAsync(dir);
        Assert.Contains("tensor 'model.layers.1.mlp.gate_up_proj.weight' has shape [128, 256] but", message);
        Assert.Contains("implies [256, 128]", message);
    }

    [Fact]
    public async Task LongRope_factors_that_do_not_fit_the_rotated_dimensions_are_refused_naming_the_key()
    {
        var dir = await ModelFixture.BuildDirectoryAsync(Temp, family: ModelFamily.Phi3);
        EditConfig(dir, c => c["partial_rotary_factor"] = 1.0); // 32 rotated dimensions need 16 factors; the config has 12
        var message = await BuildRefusedAsync(dir);
        Assert.Contains("config.json: rope_scaling.short_factor: has 12 values but the rotated part of a head (32 dimensions) needs 16", message);
    }

    [Theory]
    [InlineData(ModelFamily.Gemma2, "model.layers.1.post_feedforward_layernorm.weight")]
    [InlineData(ModelFamily.Gemma3, "model.layers.0.self_attn.k_norm.weight")]
    public async Task A_gemma_checkpoint_missing_one_of_its_norms_is_refused_naming_it(ModelFamily family, string tensor)
    {
        var dir = await ModelFixture.BuildDirectoryAsync(Temp, family: family);
        RemoveTensor(dir, tensor);
        var message = await BuildRefusedAsync(dir);
        Assert.Contains($"1 tensor(s) that", message);
        Assert.Contains($"'{tensor}'", message);
    }

    [Fact]
    public async Task Gemma_ties_its_embeddings_unless_config_json_says_otherwise()
    {
        var dir = await ModelFixture.BuildDirectoryAsync(Temp, family: ModelFamily.Gemma2);
        Assert.False(JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "config.json")))!.AsObject().ContainsKey("tie_word_embeddings"));
        EditConfig(dir, c => c["tie_word_embeddings"] = false);
        var message = await BuildRefusedAsync(dir);
        Assert.Contains("'lm_head.weight'", message);
        Assert.Contains("set tie_word_embeddings: true", message);
    }

    [Theory]
    [InlineData(ModelFamily.Gemma2, "hidden_activation", "\"silu\"", "hidden_activation: 'silu' is not supported for Gemma2ForCausalLM (supported: gelu_pytorch_tanh)")]
    [InlineData(ModelFamily.Gemma3, "architectures", "[\"Gemma3ForConditionalGeneration\"]", "model_type: 'gemma3_text' does not match architecture Gemma3ForConditionalGeneration (expected gemma3)")]
    [InlineData(ModelFamily.Gemma3, "layer_types", "[\"full_attention\"]", "layer_types: expected a list of 2 entries")]
    [InlineData(ModelFamily.Gemma2, "attn_logit_softcapping", "-1.0", "attn_logit_softcapping: -1 must be positive")]
    [InlineData(ModelFamily.Phi3, "partial_rotary_factor", "1.5", "partial_rotary_factor: 1.5 must be in (0, 1]")]
    [InlineData(ModelFamily.Phi3, "rope_scaling", """{"type":"yarn","factor":2.0}""", "rope_scaling: type 'yarn' is not supported")]
    public async Task What_the_runtime_cannot_serve_is_refused_naming_the_key(ModelFamily family, string key, string json, string expected)
    {
        var dir = await ModelFixture.BuildDirectoryAsync(Temp, family: family);
        EditConfig(dir, c => c[key] = JsonNode.Parse(json));
        var message = await BuildRefusedAsync(dir);
        Assert.Contains("config.json: ", message);
        Assert.Contains(expected, message);
    }
}
