using System.Buffers.Binary;
using System.Text;
using System.Text.Json.Nodes;
using Bento.Core.Model;

namespace Bento.Core.Tests;

public class ModelValidationTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    private async Task<string> ModelAsync() => await ModelFixture.CopyToAsync(_temp.Combine("model"));

    private static async Task<BentoException> FailsAsync(string dir) =>
        await Assert.ThrowsAsync<BentoException>(() => ModelInspector.InspectAsync(dir));

    /// <summary>Rewrites model.safetensors with an edited header (and optionally other data length).</summary>
    private static void RewriteHeader(string dir, Action<JsonObject> edit, int trimData = 0)
    {
        var path = Path.Combine(dir, "model.safetensors");
        var bytes = File.ReadAllBytes(path);
        var n = (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        var header = JsonNode.Parse(Encoding.UTF8.GetString(bytes, 8, n))!.AsObject();
        edit(header);
        var newHeader = Encoding.UTF8.GetBytes(header.ToJsonString());
        var data = bytes.AsSpan(8 + n, bytes.Length - 8 - n - trimData).ToArray();
        var output = new byte[8 + newHeader.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(output, (ulong)newHeader.Length);
        newHeader.CopyTo(output, 8);
        data.CopyTo(output, 8 + newHeader.Length);
        File.WriteAllBytes(path, output);
    }

    [Fact]
    public async Task A_generated_model_is_valid()
    {
        var folder = await ModelInspector.InspectAsync(await ModelAsync());
        Assert.Equal("LlamaForCausalLM", folder.Config.Architecture);
        Assert.Equal(2, folder.Config.NumKeyValueHeads);
        Assert.Single(folder.Weights);
    }

    [Fact]
    public async Task Truncated_safetensors_is_rejected()
    {
        var dir = await ModelAsync();
        var path = Path.Combine(dir, "model.safetensors");
        using (var f = new FileStream(path, FileMode.Open)) f.SetLength(f.Length - 100);
        var e = await FailsAsync(dir);
        Assert.Contains("model.safetensors: not a valid safetensors file", e.Message);
        Assert.Contains("truncated", e.Message);
    }

    [Fact]
    public async Task File_shorter_than_its_header_length_is_rejected()
    {
        var dir = await ModelAsync();
        File.WriteAllBytes(Path.Combine(dir, "model.safetensors"), [0xFF, 0xFF, 0, 0, 0, 0, 0, 0, (byte)'{']);
        Assert.Contains("the header claims", (await FailsAsync(dir)).Message);
    }

    [Fact]
    public async Task Lying_offsets_are_rejected()
    {
        var dir = await ModelAsync();
        RewriteHeader(dir, h =>
        {
            var t = h["model.norm.weight"]!.AsObject();
            var offsets = t["data_offsets"]!.AsArray();
            offsets[1] = offsets[1]!.GetValue<long>() + 4;
        });
        var e = await FailsAsync(dir);
        Assert.Contains("tensor 'model.norm.weight'", e.Message);
        Assert.Contains("data_offsets", e.Message);
    }

    [Fact]
    public async Task Header_that_is_not_json_is_rejected()
    {
        var dir = await ModelAsync();
        var header = "not json at all!"u8.ToArray();
        var bytes = new byte[8 + header.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)header.Length);
        header.CopyTo(bytes, 8);
        File.WriteAllBytes(Path.Combine(dir, "model.safetensors"), bytes);
        Assert.Contains("not valid JSON", (await FailsAsync(dir)).Message);
    }

    [Fact]
    public async Task Unknown_dtype_is_rejected()
    {
        var dir = await ModelAsync();
        RewriteHeader(dir, h => h["model.norm.weight"]!["dtype"] = "F128");
        Assert.Contains("unknown dtype 'F128'", (await FailsAsync(dir)).Message);
    }

    [Fact]
    public async Task Shapes_that_disagree_with_config_json_are_rejected()
    {
        var dir = await ModelAsync();
        var configPath = Path.Combine(dir, "config.json");
        var config = JsonNode.Parse(File.ReadAllText(configPath))!;
        config["intermediate_size"] = 256;
        File.WriteAllText(configPath, config.ToJsonString());
        var e = await FailsAsync(dir);
        Assert.Matches(@"mlp\.(gate|up|down)_proj\.weight' has shape \[(128, 64|64, 128)\] but .*config\.json implies \[(256, 64|64, 256)\]", e.Message);
    }

    [Fact]
    public async Task Missing_tensor_is_named()
    {
        var dir = await ModelAsync();
        var configPath = Path.Combine(dir, "config.json");
        var config = JsonNode.Parse(File.ReadAllText(configPath))!;
        config["num_hidden_layers"] = 3;
        File.WriteAllText(configPath, config.ToJsonString());
        Assert.Contains("'model.layers.2.", (await FailsAsync(dir)).Message);
    }

    [Fact]
    public async Task Unsupported_architecture_is_named()
    {
        var dir = await ModelAsync();
        var configPath = Path.Combine(dir, "config.json");
        var config = JsonNode.Parse(File.ReadAllText(configPath))!;
        config["architectures"] = new JsonArray("GPT2LMHeadModel");
        File.WriteAllText(configPath, config.ToJsonString());
        var e = await FailsAsync(dir);
        Assert.Contains("architectures: 'GPT2LMHeadModel' is not supported", e.Message);
        Assert.Contains("LlamaForCausalLM", e.Message);
    }

    [Fact]
    public async Task Invalid_config_json_names_the_line()
    {
        var dir = await ModelAsync();
        File.WriteAllText(Path.Combine(dir, "config.json"), "{\n  \"hidden_size\": 64,\n  oops\n}");
        var e = await FailsAsync(dir);
        Assert.Matches(@"config\.json:3:\d+: invalid JSON", e.Message);
    }

    [Fact]
    public async Task No_weights_is_explained()
    {
        var dir = await ModelAsync();
        File.Move(Path.Combine(dir, "model.safetensors"), Path.Combine(dir, "pytorch_model.bin"));
        var e = await FailsAsync(dir);
        Assert.Contains("has no *.safetensors weights", e.Message);
        Assert.Contains("'pytorch_model.bin' is not supported", e.Message);
    }

    [Fact]
    public async Task Index_pointing_at_the_wrong_shard_is_rejected()
    {
        var dir = await ModelFixture.CopyToAsync(_temp.Combine("sharded"), sharded: true);
        var indexPath = Path.Combine(dir, ModelInspector.IndexFile);
        var index = JsonNode.Parse(File.ReadAllText(indexPath))!;
        var map = index["weight_map"]!.AsObject();
        var shards = map.Select(kv => kv.Value!.GetValue<string>()).Distinct().Order().ToList();
        map["model.norm.weight"] = shards.First(s => s != map["model.norm.weight"]!.GetValue<string>());
        File.WriteAllText(indexPath, index.ToJsonString());
        Assert.Contains("model.safetensors.index.json says it is in", (await FailsAsync(dir)).Message);
    }

    [Fact]
    public async Task Safetensors_header_reader_reports_tensors_in_order()
    {
        var header = await SafetensorsHeader.ReadAsync(Path.Combine(await ModelAsync(), "model.safetensors"));
        Assert.Equal(0, header.DataOffset % 8);
        Assert.Contains(header.Tensors, t => t.Name == "model.embed_tokens.weight" && t.DType == "F32");
    }
}
