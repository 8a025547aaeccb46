using System.Diagnostics;
using System.Text.Json.Nodes;
using Bento.Core.Model;

namespace Bento.Core.Tests;

/// <summary>
/// One model contract: what the runtime cannot serve is refused by `bento build`, naming config.json's key and what
/// is supported, with the store untouched (these all built once and then failed at serve time).
/// </summary>
public class ModelContractTests : StoreTestBase
{
    private async Task<string> ProjectAsync(Action<JsonObject> editConfig, string bentofile = "name: fixture\n")
    {
        var dir = await ModelFixture.BuildDirectoryAsync(Temp, bentofile);
        var path = Path.Combine(dir, "config.json");
        var config = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        editConfig(config);
        File.WriteAllText(path, config.ToJsonString());
        return dir;
    }

    private async Task<string> RefusedAsync(Action<JsonObject> editConfig, string bentofile = "name: fixture\n")
    {
        return await BuildRefusedAsync(await ProjectAsync(editConfig, bentofile));
    }

    public static TheoryData<string, string, string> Refusals => new()
    {
        { "attention_bias", "true", "attention_bias: true is not supported" },
        { "mlp_bias", "true", "mlp_bias: true is not supported" },
        { "hidden_act", "\"gelu_pytorch_tanh\"", "hidden_act: 'gelu_pytorch_tanh' is not supported for LlamaForCausalLM (supported: silu)" },
        { "rope_scaling", """{"rope_type":"yarn","factor":4.0}""", "rope_scaling: type 'yarn' is not supported (supported: default, linear, dynamic, llama3, longrope, su)" },
        { "rope_scaling", """{"rope_type":"llama3","factor":8.0,"low_freq_factor":4.0,"high_freq_factor":1.0}""", "high_freq_factor > low_freq_factor" },
        { "model_type", "\"qwen2\"", "model_type: 'qwen2' does not match architecture LlamaForCausalLM" },
        { "architectures", "7", "architectures: expected a list of architecture names" },
        { "model_type", "7", "model_type: expected a string, got the number 7" },
        { "max_position_embeddings", "-5", "max_position_embeddings: -5 is out of range" },
        { "max_position_embeddings", "0", "max_position_embeddings: 0 is out of range" },
        { "num_hidden_layers", "2147483647", "num_hidden_layers: 2147483647 is out of range; expected a whole number from 1 to 1024" },
        { "num_hidden_layers", "50000000.0", "num_hidden_layers: 50000000.0 is not a whole number" },
        { "hidden_size", "\"128\"", "hidden_size: expected an integer, got the string \"128\"" },
        { "torch_dtype", "\"float8_e4m3fn\"", "torch_dtype: 'float8_e4m3fn' is not a dtype the runtime computes in" },
        { "tie_word_embeddings", "\"yes\"", "tie_word_embeddings: expected true or false" },
    };

    [Theory]
    [MemberData(nameof(Refusals))]
    public async Task What_the_runtime_cannot_serve_is_refused_at_build(string key, string json, string expected)
    {
        var message = await RefusedAsync(c => c[key] = JsonNode.Parse(json));
        Assert.Contains("config.json: ", message);
        Assert.Contains(expected, message);
    }

    [Fact]
    public async Task A_huge_declared_dimension_fails_fast_without_allocating_for_it()
    {
        var before = GC.GetTotalAllocatedBytes();
        var watch = Stopwatch.StartNew();
        await RefusedAsync(c => c["num_hidden_layers"] = int.MaxValue);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10), watch.Elapsed.ToString());
        Assert.True(GC.GetTotalAllocatedBytes() - before < 200L << 20, "allocated more than 200 MiB");
    }

    [Fact]
    public async Task A_sliding_window_shorter_than_max_model_len_builds_because_windows_are_served()
    {
        var dir = await ProjectAsync(c => { c["sliding_window"] = 64; c["max_position_embeddings"] = 256; },
            "name: fixture\nruntime:\n  max_model_len: 128\n");
        Assert.Equal(128, (await BuildAsync(dir)).Bento.Manifest.Runtime.MaxModelLen);
    }

    [Fact]
    public async Task Dynamic_rope_scaling_past_its_original_length_is_refused_at_build()
    {
        // max_model_len past max_position_embeddings is refused for every model; dynamic NTK also stops at its own
        // original length when rope_scaling names one.
        var message = await RefusedAsync(c =>
            {
                c["rope_scaling"] = JsonNode.Parse("""{"type":"dynamic","factor":4.0,"original_max_position_embeddings":64}""");
                c["max_position_embeddings"] = 256;
            },
            "name: fixture\nruntime:\n  max_model_len: 128\n");
        Assert.Contains("runtime.max_model_len is 128 but the model's rope_scaling (config.json) is 'dynamic'", message);
        Assert.Contains("at most 64", message);
    }

    [Theory]
    [InlineData("bf16", "bfloat16")]
    [InlineData("BFloat16", "bfloat16")]
    [InlineData("half", "float16")]
    [InlineData("fp32", "float32")]
    [InlineData("auto", "auto")]
    public async Task Every_dtype_spelling_the_runtime_accepts_is_accepted_in_a_bentofile(string given, string stored)
    {
        var dir = await ProjectAsync(_ => { }, $"name: fixture\nruntime:\n  dtype: {given}\n");
        Assert.Equal(stored, (await BuildAsync(dir)).Bento.Manifest.Runtime.Dtype);
    }

    [Fact]
    public void The_dtype_table_is_the_one_behind_every_spelling()
    {
        foreach (var dtype in ModelDtype.All)
        {
            Assert.Same(dtype, ModelDtype.FromSafetensors(dtype.Safetensors));
            Assert.Equal(dtype.Name, ModelDtype.CanonicalSetting(dtype.Name.ToUpperInvariant()));
            foreach (var alias in dtype.Aliases) Assert.Same(dtype, ModelDtype.Find(alias));
        }
        Assert.Null(ModelDtype.CanonicalSetting("int4"));
        Assert.Equal(ModelDtype.BFloat16, ModelDtype.Resolve("auto", ModelDtype.BFloat16));
        Assert.Equal(ModelDtype.Float32, ModelDtype.Resolve("auto", null));
        Assert.Equal(ModelDtype.Float16, ModelDtype.Resolve("half", ModelDtype.BFloat16));
    }
}
