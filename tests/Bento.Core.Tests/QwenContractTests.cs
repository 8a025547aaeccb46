using System.Buffers.Binary;
using System.Text;
using System.Text.Json.Nodes;
using Bento.Core.Model;
using Bento.ModelGen;

namespace Bento.Core.Tests;

/// <summary>
/// Qwen2/Qwen2.5 and Qwen3 in the one model contract: folders with the published config keys build, and a checkpoint
/// whose per-family tensors (q/k/v biases, q_norm/k_norm) do not match its config is refused at build naming the
/// tensor, with the store untouched.
/// </summary>
public class QwenContractTests : StoreTestBase
{
    [Theory]
    [InlineData(ModelFamily.Qwen2, "Qwen2ForCausalLM")]
    [InlineData(ModelFamily.Qwen3, "Qwen3ForCausalLM")]
    public async Task A_qwen_folder_with_the_published_config_keys_builds(ModelFamily family, string architecture)
    {
        var dir = await ModelFixture.BuildDirectoryAsync(Temp, family: family);
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "config.json")))!.AsObject();
        Assert.False(config["use_sliding_window"]!.GetValue<bool>()); // a window key is present but switched off
        Assert.True(config.ContainsKey("sliding_window"));
        var built = await BuildAsync(dir);
        Assert.Equal(architecture, built.Bento.Manifest.Model.Architecture);
        var folder = await ModelInspector.InspectAsync(dir);
        Assert.Null(folder.Config.SlidingWindow);
        Assert.Equal(family == ModelFamily.Qwen3 ? 32 : 16, folder.Config.HeadDim);
    }

    [Fact]
    public async Task A_qwen2_checkpoint_missing_a_q_bias_is_refused_naming_it()
    {
        var dir = await ModelFixture.BuildDirectoryAsync(Temp, family: ModelFamily.Qwen2);
        RemoveTensor(dir, "model.layers.1.self_attn.q_proj.bias");
        var message = await BuildRefusedAsync(dir);
        Assert.Contains("1 tensor(s) that", message);
        Assert.Contains("'model.layers.1.self_attn.q_proj.bias'", message);
    }

    [Fact]
    public async Task A_qwen3_q_norm_of_the_wrong_shape_is_refused_naming_it()
    {
        var dir = await ModelFixture.BuildDirectoryAsync(Temp, family: ModelFamily.Qwen3);
        // Same byte count, other shape: the header stays self-consistent, only the contract can object.
        EditHeader(dir, h => h["model.layers.0.self_attn.q_norm.weight"]!["shape"] = new JsonArray(2, 16));
        var message = await BuildRefusedAsync(dir);
        Assert.Contains("tensor 'model.layers.0.self_attn.q_norm.weight' has shape [2, 16] but", message);
        Assert.Contains("implies [32]", message);
        Assert.Contains("head_dim=32", message);
    }

    [Fact]
    public async Task Qwen2_biases_in_a_llama_checkpoint_are_refused_as_unexpected()
    {
        var dir = await ModelFixture.BuildDirectoryAsync(Temp, family: ModelFamily.Qwen2);
        EditConfig(dir, c => { c["architectures"] = new JsonArray("LlamaForCausalLM"); c["model_type"] = "llama"; });
        var message = await BuildRefusedAsync(dir);
        Assert.Contains("unexpected tensor 'model.layers.", message);
        Assert.Contains("_proj.bias' for LlamaForCausalLM", message);
    }

    [Fact]
    public async Task A_qwen3_checkpoint_without_q_norms_is_refused()
    {
        // A Qwen2-shaped folder relabelled Qwen3: no q_norm/k_norm (and biases Qwen3 does not have).
        var dir = await ModelFixture.BuildDirectoryAsync(Temp, family: ModelFamily.Qwen2);
        EditConfig(dir, c => { c["architectures"] = new JsonArray("Qwen3ForCausalLM"); c["model_type"] = "qwen3"; });
        var message = await BuildRefusedAsync(dir);
        Assert.Contains("_proj.bias' for Qwen3ForCausalLM", message);
    }

    [Fact]
    public async Task A_used_qwen_sliding_window_shorter_than_max_model_len_builds_and_windows_the_upper_layers()
    {
        var dir = await ModelFixture.BuildDirectoryAsync(Temp, "name: fixture\nruntime:\n  max_model_len: 128\n", family: ModelFamily.Qwen2);
        EditConfig(dir, c => { c["use_sliding_window"] = true; c["sliding_window"] = 64; c["max_window_layers"] = 1; });
        await BuildAsync(dir);
        var config = (await ModelInspector.InspectAsync(dir)).Config;
        Assert.Equal([null, 64], Enumerable.Range(0, config.NumHiddenLayers).Select(l => config.Attention(l).Window));
    }

    internal static void EditConfig(string dir, Action<JsonObject> edit)
    {
        var path = Path.Combine(dir, "config.json");
        var config = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        edit(config);
        File.WriteAllText(path, config.ToJsonString());
    }

    private static (JsonObject Header, byte[] Data) Read(string path)
    {
        var bytes = File.ReadAllBytes(path);
        var n = (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        return (JsonNode.Parse(Encoding.UTF8.GetString(bytes, 8, n))!.AsObject(), bytes[(8 + n)..]);
    }

    private static void Write(string path, JsonObject header, byte[] data)
    {
        var json = Encoding.UTF8.GetBytes(header.ToJsonString());
        var output = new byte[8 + json.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(output, (ulong)json.Length);
        json.CopyTo(output, 8);
        data.CopyTo(output, 8 + json.Length);
        File.WriteAllBytes(path, output);
    }

    internal static void EditHeader(string dir, Action<JsonObject> edit)
    {
        var path = Path.Combine(dir, "model.safetensors");
        var (header, data) = Read(path);
        edit(header);
        Write(path, header, data);
    }

    /// <summary>Drops one tensor and closes the gap it leaves, so the file stays a valid safetensors.</summary>
    internal static void RemoveTensor(string dir, string name)
    {
        var path = Path.Combine(dir, "model.safetensors");
        var (header, data) = Read(path);
        var offsets = header[name]!["data_offsets"]!.AsArray();
        long begin = offsets[0]!.GetValue<long>(), end = offsets[1]!.GetValue<long>();
        header.Remove(name);
        foreach (var (key, value) in header)
        {
            if (key == "__metadata__") continue;
            var o = value!["data_offsets"]!.AsArray();
            if (o[0]!.GetValue<long>() >= end)
                value["data_offsets"] = new JsonArray(o[0]!.GetValue<long>() - (end - begin), o[1]!.GetValue<long>() - (end - begin));
        }
        Write(path, header, [.. data[..(int)begin], .. data[(int)end..]]);
    }
}
