using System.Text.Json.Nodes;
using Bento.Core.Model;
using Bento.ModelGen;
using static Bento.Core.Tests.QwenContractTests;

namespace Bento.Core.Tests;

/// <summary>
/// Gemma 3's multimodal checkpoints (Gemma3ForConditionalGeneration: gemma-3-4b/12b/27b-it) in the model contract:
/// served as their text model, read from text_config with Gemma3TextConfig's defaults, tensors under language_model.*,
/// the vision tower left alone.
/// </summary>
public class Gemma3MultimodalContractTests : StoreTestBase
{
    /// <summary>google/gemma-3-4b-it's config.json as published (transformers 4.50).</summary>
    private const string Gemma3_4bIt = """
        {
          "architectures": ["Gemma3ForConditionalGeneration"],
          "boi_token_index": 255999,
          "eoi_token_index": 256000,
          "eos_token_id": [1, 106],
          "image_token_index": 262144,
          "initializer_range": 0.02,
          "mm_tokens_per_image": 256,
          "model_type": "gemma3",
          "text_config": {
            "hidden_size": 2560,
            "intermediate_size": 10240,
            "model_type": "gemma3_text",
            "num_hidden_layers": 34,
            "rope_scaling": {"factor": 8.0, "rope_type": "linear"},
            "sliding_window": 1024
          },
          "torch_dtype": "bfloat16",
          "transformers_version": "4.50.0.dev0",
          "vision_config": {
            "hidden_size": 1152, "image_size": 896, "intermediate_size": 4304, "model_type": "siglip_vision_model",
            "num_attention_heads": 16, "num_hidden_layers": 27, "patch_size": 14, "vision_use_head": false
          }
        }
        """;

    [Fact]
    public void The_published_gemma_3_4b_config_reads_as_its_text_model_with_the_text_config_defaults()
    {
        var c = ModelConfig.Parse(Gemma3_4bIt);
        Assert.Equal(("Gemma3ForConditionalGeneration", "gemma3"), (c.Architecture, c.ModelType));
        Assert.Equal((2560, 10240, 34), (c.HiddenSize, c.IntermediateSize, c.NumHiddenLayers));
        // Gemma3TextConfig's defaults for what text_config leaves out.
        Assert.Equal((262208, 8, 4, 256, 131072), (c.VocabSize, c.NumAttentionHeads, c.NumKeyValueHeads, c.HeadDim, c.MaxPositionEmbeddings));
        Assert.Equal((1_000_000.0, 10000.0, 1e-6, 256.0, 6), (c.RopeTheta, c.RopeLocalBaseFreq, c.RmsNormEps, c.QueryPreAttnScalar, c.SlidingWindowPattern));
        Assert.Equal(("linear", 8.0), (c.RopeScaling!.Type, c.RopeScaling.Factor));
        Assert.Equal(1024, c.SlidingWindow);
        Assert.Null(c.AttnLogitSoftcapping);
        Assert.Null(c.FinalLogitSoftcapping);
        Assert.True(c.TieWordEmbeddings);
        // From the top level: the checkpoint's dtype and both end tokens (<eos>, <end_of_turn>).
        Assert.Equal(ModelDtype.BFloat16, c.TorchDtype);
        Assert.Equal([1, 106], c.EosTokenIds);
        Assert.Equal(2, c.BosTokenId); // Gemma3TextConfig's <bos>: the GGUF export adds it as llama.cpp expects
        Assert.True(c.GemmaBlock && c.QkNorm);
        Assert.False(c.IsSlidingLayer(5));
        Assert.True(c.IsSlidingLayer(4));
    }

    [Theory]
    [InlineData("""{"architectures":["Gemma3ForConditionalGeneration"],"model_type":"gemma3"}""", "config.json: text_config: missing; Gemma3ForConditionalGeneration keeps its text model's settings there")]
    [InlineData("""{"architectures":["Gemma3ForConditionalGeneration"],"model_type":"gemma3","text_config":[]}""", "config.json: text_config: expected an object, got a list")]
    [InlineData("""{"architectures":["Gemma3ForConditionalGeneration"],"model_type":"gemma3","text_config":{"hidden_size":"big"}}""", "config.json: text_config.hidden_size: expected an integer, got the string \"big\"")]
    [InlineData("""{"architectures":["Gemma3ForConditionalGeneration"],"model_type":"gemma3","torch_dtype":"int4","text_config":{}}""", "config.json: torch_dtype: 'int4' is not a dtype")]
    [InlineData("""{"architectures":["Gemma3ForConditionalGeneration"],"model_type":"gemma3_text","text_config":{}}""", "config.json: model_type: 'gemma3_text' does not match architecture Gemma3ForConditionalGeneration (expected gemma3)")]
    public void A_bad_multimodal_config_is_refused_naming_the_key_where_it_is(string json, string expected)
    {
        var e = Assert.Throws<BentoException>(() => ModelConfig.Parse(json));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void A_bad_value_under_a_key_found_at_the_top_level_is_named_there()
    {
        var e = Assert.Throws<BentoException>(() => ModelConfig.Parse(
            """{"architectures":["Gemma3ForConditionalGeneration"],"model_type":"gemma3","rope_scaling":{"rope_type":"linear","factor":"x"},"text_config":{}}"""));
        Assert.Contains("config.json: rope_scaling.factor: expected a number", e.Message);
    }

    [Fact]
    public void A_quantization_config_may_name_modules_as_the_checkpoint_stores_them()
    {
        var config = ModelConfig.Parse(Gemma3_4bIt) with
        {
            Quantization = new WeightQuantization(WeightQuantization.PackedFormat, WeightQuantization.ChannelStrategy, null,
                [WeightQuantization.LinearTarget], ["re:language_model\\.model\\.layers\\.0\\..*"]),
        };
        var layout = TensorLayout.For(config);
        Assert.Contains("model.layers.0.mlp.up_proj.weight", layout.Required.Keys);          // ignored by its stored name
        Assert.Contains("model.layers.1.mlp.up_proj.weight_packed", layout.Required.Keys);   // quantized
    }

    [Fact]
    public void Stored_names_map_to_the_layout_and_the_vision_tower_is_left_out()
    {
        var family = ModelContract.Find("Gemma3ForConditionalGeneration")!;
        Assert.Equal("model.layers.3.mlp.down_proj.weight", family.CanonicalTensorName("language_model.model.layers.3.mlp.down_proj.weight"));
        Assert.Equal("model.norm.weight", family.CanonicalTensorName("model.language_model.norm.weight")); // transformers 4.52's layout
        Assert.Equal("lm_head.weight", family.CanonicalTensorName("language_model.lm_head.weight"));
        Assert.Equal("model.embed_tokens.weight", family.CanonicalTensorName("model.embed_tokens.weight"));
        Assert.Null(family.CanonicalTensorName("vision_tower.vision_model.post_layernorm.weight"));
        Assert.Null(family.CanonicalTensorName("model.multi_modal_projector.mm_input_projection_weight"));
        // Only the multimodal architecture renames: a text checkpoint's tensors are read as stored.
        Assert.Equal("language_model.model.norm.weight", ModelContract.Find("Gemma3ForCausalLM")!.CanonicalTensorName("language_model.model.norm.weight"));
    }

    [Fact]
    public async Task A_generated_gemma_3_4b_shaped_folder_builds_with_its_vision_tower()
    {
        var dir = await ModelFixture.BuildDirectoryAsync(Temp, multimodal: true);
        var header = await DtypesAsync(Path.Combine(dir, "model.safetensors"));
        Assert.Contains("vision_tower.vision_model.embeddings.patch_embedding.weight", header);
        Assert.Contains("language_model.model.layers.0.self_attn.q_norm.weight", header);
        var built = await BuildAsync(dir);
        Assert.Equal("Gemma3ForConditionalGeneration", built.Bento.Manifest.Model.Architecture);
        var folder = await ModelInspector.InspectAsync(dir);
        // Parameters count the served text model only.
        Assert.Equal(TensorLayout.For(folder.Config).Parameters, folder.Parameters);
    }

    [Fact]
    public async Task A_missing_text_tensor_is_refused_naming_where_it_is_stored()
    {
        var dir = await ModelFixture.BuildDirectoryAsync(Temp, multimodal: true);
        RemoveTensor(dir, "language_model.model.layers.1.post_feedforward_layernorm.weight");
        var message = await BuildRefusedAsync(dir);
        Assert.Contains("'model.layers.1.post_feedforward_layernorm.weight' (stored as 'language_model.model.layers.1.post_feedforward_layernorm.weight' or 'model.language_model.layers.1.post_feedforward_layernorm.weight')", message);
    }

    [Fact]
    public async Task A_text_tensor_the_layout_does_not_have_is_refused_under_its_stored_name()
    {
        var dir = await ModelFixture.BuildDirectoryAsync(Temp, multimodal: true);
        EditHeader(dir, h =>
        {
            h["language_model.model.layers.0.self_attn.qkv_proj.weight"] = h["language_model.model.layers.0.self_attn.q_proj.weight"]!.DeepClone();
            h.Remove("language_model.model.layers.0.self_attn.q_proj.weight");
        });
        var message = await BuildRefusedAsync(dir);
        Assert.Contains("unexpected tensor 'language_model.model.layers.0.self_attn.qkv_proj.weight' for Gemma3ForConditionalGeneration", message);
    }

    [Fact]
    public async Task Int8_quantizes_the_text_model_keeps_the_stored_names_and_copies_the_vision_tower()
    {
        var dir = await ModelFixture.BuildDirectoryAsync(Temp, "name: fixture\nmodel: {path: ., quantize: int8}\n", multimodal: true);
        var result = await BuildAsync(dir);
        var modelDir = Path.Combine(result.Bento.Directory, "model");
        var header = await DtypesAsync(Path.Combine(modelDir, "model.safetensors"));
        Assert.Equal("I32", header["language_model.model.layers.0.mlp.down_proj.weight_packed"]);
        Assert.Equal("I32", header["language_model.model.embed_tokens.weight_packed"]);
        Assert.False(header.ContainsKey("language_model.model.layers.0.mlp.down_proj.weight"));
        var source = await DtypesAsync(Path.Combine(dir, "model.safetensors"));
        foreach (var vision in new[] { "vision_tower.vision_model.embeddings.patch_embedding.weight", "multi_modal_projector.mm_input_projection_weight" })
            Assert.Equal(source[vision], header[vision]);
        // The bento's folder passes the checks a build makes (a bento that builds serves), quantization_config at the top.
        var folder = await ModelInspector.InspectAsync(modelDir);
        Assert.Equal("Gemma3ForConditionalGeneration", folder.Config.Architecture);
        Assert.Equal(WeightQuantization.PackedFormat, folder.Config.Quantization!.Format);
        var written = JsonNode.Parse(File.ReadAllText(Path.Combine(modelDir, "config.json")))!;
        Assert.NotNull(written["text_config"]);
        // Any compressed-tensors loader is told the vision tower is not quantized.
        Assert.Equal(["re:vision_tower\\..*", "re:multi_modal_projector\\..*", "re:model\\.vision_tower\\..*", "re:model\\.multi_modal_projector\\..*"],
            written["quantization_config"]!["ignore"]!.AsArray().Select(n => n!.GetValue<string>()));
        Assert.False(folder.Config.Quantization.Quantizes("vision_tower.vision_model.encoder.layers.0.mlp.fc1", isEmbedding: false));
        Assert.True(folder.Config.Quantization.Quantizes("model.layers.0.mlp.up_proj", isEmbedding: false));
    }

    /// <summary>Each tensor's dtype, by its stored name.</summary>
    private static async Task<Dictionary<string, string>> DtypesAsync(string path) =>
        (await SafetensorsHeader.ReadAsync(path)).Tensors.ToDictionary(t => t.Name, t => t.DType);
}
