using System.Text.Json;

namespace Bento.ModelGen.Tests;

public class ModelFolderGeneratorTests(TinyLlamaFixture tiny) : IClassFixture<TinyLlamaFixture>
{
    private static readonly string[] TinyFiles =
    [
        "config.json", "generation_config.json", "model.safetensors", "special_tokens_map.json", "tokenizer.json", "tokenizer_config.json",
    ];

    [Fact]
    public void TinyLlamaHasTheDocumentedShape()
    {
        Assert.Equal(TinyFiles, tiny.Model.FileNames);
        Assert.Equal(TinyFiles, Directory.EnumerateFiles(tiny.Directory).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        var c = tiny.Model.Config;
        Assert.Equal((512, 128, 384, 4, 4, 2, 32), (c.VocabSize, c.HiddenSize, c.IntermediateSize, c.NumHiddenLayers, c.NumAttentionHeads, c.NumKeyValueHeads, c.HeadDim));
        Assert.Equal((512, false, "float32"), (c.MaxPositionEmbeddings, c.TieWordEmbeddings, c.TorchDtype));
        Assert.InRange(tiny.Model.TotalBytes, 1_000_000, 5_000_000);
        Assert.Equal(Directory.EnumerateFiles(tiny.Directory).Sum(f => new FileInfo(f).Length), tiny.Model.TotalBytes);
    }

    [Fact]
    public async Task GeneratingTwiceGivesByteIdenticalFiles()
    {
        using var dir = new TempDirectory();
        var again = await ModelFolderGenerator.GenerateAsync(dir.Combine("again"), ModelPresets.TinyLlama());
        Assert.Equal(tiny.Model.FileNames, again.FileNames);
        foreach (var name in TinyFiles)
            Assert.True(
                File.ReadAllBytes(Path.Combine(tiny.Directory, name)).AsSpan().SequenceEqual(File.ReadAllBytes(dir.Combine("again", name))),
                $"{name} differs between two runs");
    }

    [Fact]
    public void CheckpointShapesMatchConfigJson()
    {
        using var configJson = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(tiny.Directory, "config.json")));
        var c = configJson.RootElement;
        int Get(string key) => c.GetProperty(key).GetInt32();
        var (v, h, i, heads, kv) = (Get("vocab_size"), Get("hidden_size"), Get("intermediate_size"), Get("num_attention_heads"), Get("num_key_value_heads"));
        var headDim = Get("head_dim");
        Assert.Equal(h / heads, headDim);

        var file = SafetensorsFile.Read(Path.Combine(tiny.Directory, "model.safetensors"));
        Assert.Equal(0, (8 + file.HeaderLength) % 8);
        Assert.Equal(8 + file.HeaderLength + file.Tensors[^1].End, file.FileLength);
        Assert.Equal(2 + 9 * Get("num_hidden_layers") + 1, file.Tensors.Count);
        Assert.All(file.Tensors, t => Assert.Equal("F32", t.DType));
        Assert.Equal(new long[] { v, h }, file["model.embed_tokens.weight"].Shape);
        Assert.Equal(new long[] { v, h }, file["lm_head.weight"].Shape);
        Assert.Equal(new long[] { kv * headDim, h }, file["model.layers.3.self_attn.k_proj.weight"].Shape);
        Assert.Equal(new long[] { h, heads * headDim }, file["model.layers.3.self_attn.o_proj.weight"].Shape);
        Assert.Equal(new long[] { h, i }, file["model.layers.0.mlp.down_proj.weight"].Shape);
        Assert.Equal("LlamaForCausalLM", c.GetProperty("architectures")[0].GetString());
        Assert.Equal("llama", c.GetProperty("model_type").GetString());
        Assert.Equal(JsonValueKind.Null, c.GetProperty("rope_scaling").ValueKind);
        Assert.Equal(1e-5, c.GetProperty("rms_norm_eps").GetDouble());
        Assert.Equal(10000.0, c.GetProperty("rope_theta").GetDouble());
    }

    [Fact]
    public void ConfigJsonUsesStableKeyOrderAndTwoSpaceIndent()
    {
        var text = File.ReadAllText(Path.Combine(tiny.Directory, "config.json"));
        Assert.StartsWith("{\n  \"architectures\": [\n    \"LlamaForCausalLM\"\n  ],\n  \"attention_bias\": false,", text);
        Assert.Contains("\n  \"rms_norm_eps\": 1e-05,\n", text);
        Assert.Contains("\n  \"rope_theta\": 10000.0,\n", text);
        using var doc = JsonDocument.Parse(text);
        var keys = doc.RootElement.EnumerateObject().Select(p => p.Name).ToList();
        Assert.Equal(keys.Order(StringComparer.Ordinal), keys);
    }

    [Fact]
    public async Task RandomModelWithShardsTiedAndBfloat16IsConsistent()
    {
        using var dir = new TempDirectory();
        var options = ModelPresets.Random(new RandomModelSpec
        {
            HiddenSize = 64, IntermediateSize = 128, Layers = 3, Heads = 4, KeyValueHeads = 1,
            TiedEmbeddings = true, TorchDtype = "bfloat16", Shards = 3, VocabSize = 1000,
        });
        var model = await ModelFolderGenerator.GenerateAsync(dir.Combine("m"), options);

        Assert.Equal(1000, model.Config.VocabSize);
        Assert.Contains("model.safetensors.index.json", model.FileNames);
        Assert.Equal(3, model.FileNames.Count(n => n.StartsWith("model-", StringComparison.Ordinal)));
        var shards = model.FileNames.Where(n => n.StartsWith("model-", StringComparison.Ordinal)).Select(n => SafetensorsFile.Read(dir.Combine("m", n))).ToList();
        var tensors = shards.SelectMany(s => s.Tensors).ToList();
        Assert.DoesNotContain(tensors, t => t.Name == "lm_head.weight");
        Assert.All(tensors, t => Assert.Equal("BF16", t.DType));
        Assert.Equal(new long[] { 1000, 64 }, tensors.Single(t => t.Name == "model.embed_tokens.weight").Shape);

        // The tokenizer may be smaller than the embedding (the corpus may not support 995 merges) but never larger.
        using var tokenizer = JsonDocument.Parse(File.ReadAllBytes(dir.Combine("m", "tokenizer.json")));
        var total = tokenizer.RootElement.GetProperty("model").GetProperty("vocab").EnumerateObject().Count()
            + tokenizer.RootElement.GetProperty("added_tokens").GetArrayLength();
        Assert.InRange(total, 262, 1000);
        using var config = JsonDocument.Parse(File.ReadAllBytes(dir.Combine("m", "config.json")));
        Assert.True(config.RootElement.GetProperty("tie_word_embeddings").GetBoolean());
        Assert.Equal("bfloat16", config.RootElement.GetProperty("torch_dtype").GetString());
    }

    [Fact]
    public void TargetBytesPicksTheLayerCount()
    {
        var options = ModelPresets.Random(new RandomModelSpec { TargetBytes = 64L << 20 });
        var bytes = LlamaWeights.TotalBytes(options.Config);
        var perLayer = LlamaWeights.TotalBytes(options.Config with { NumHiddenLayers = 2 }) - LlamaWeights.TotalBytes(options.Config with { NumHiddenLayers = 1 });
        Assert.InRange(bytes, (64L << 20) - perLayer / 2 - 1, (64L << 20) + perLayer / 2 + 1);
    }

    [Fact]
    public async Task FailureLeavesTheOutputDirectoryUntouched()
    {
        using var dir = new TempDirectory();
        var options = ModelPresets.TinyLlama();
        var specs = LlamaWeights.Describe(options.Config);
        var failing = specs.Select(s => s.Name == "model.norm.weight"
                ? TensorSource.FromFloatChunks(s.Name, "F32", s.Shape, () => (_, _) => throw new IOException("simulated failure"))
                : TensorSource.Constant(s.Name, "F32", s.Shape, 0.5f))
            .ToList();

        // A fresh target is not created at all.
        await Assert.ThrowsAsync<IOException>(() => ModelFolderGenerator.GenerateAsync(dir.Combine("fresh"), options with { Weights = failing }));
        Assert.Empty(Directory.EnumerateFileSystemEntries(dir.Path));

        // An existing target keeps its previous contents.
        var existing = dir.Combine("existing");
        Directory.CreateDirectory(existing);
        File.WriteAllText(Path.Combine(existing, "bentofile.yaml"), "name: keep-me\n");
        File.WriteAllText(Path.Combine(existing, "config.json"), "{}");
        await Assert.ThrowsAsync<IOException>(() => ModelFolderGenerator.GenerateAsync(existing, options with { Weights = failing }));
        Assert.Equal(new[] { "bentofile.yaml", "config.json" }, Directory.EnumerateFiles(existing).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.Equal("{}", File.ReadAllText(Path.Combine(existing, "config.json")));
        Assert.Single(Directory.EnumerateFileSystemEntries(dir.Path));   // no staging folder left behind
    }

    [Fact]
    public async Task RegeneratingKeepsForeignFilesAndRemovesStaleShards()
    {
        using var dir = new TempDirectory();
        var target = dir.Combine("m");
        var spec = new RandomModelSpec { HiddenSize = 32, IntermediateSize = 64, Heads = 2, KeyValueHeads = 1, Layers = 2 };
        await ModelFolderGenerator.GenerateAsync(target, ModelPresets.Random(spec with { Shards = 2 }));
        File.WriteAllText(Path.Combine(target, "bentofile.yaml"), "name: keep-me\n");

        var single = await ModelFolderGenerator.GenerateAsync(target, ModelPresets.Random(spec));
        var present = Directory.EnumerateFiles(target).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(single.FileNames.Append("bentofile.yaml").Order(StringComparer.Ordinal), present);
        Assert.DoesNotContain(present, n => n!.StartsWith("model-", StringComparison.Ordinal) || n == "model.safetensors.index.json");
    }

    [Fact]
    public async Task MismatchedWeightsAreRejectedBeforeWriting()
    {
        using var dir = new TempDirectory();
        var options = ModelPresets.TinyLlama();
        var wrongDtype = LlamaWeights.Random(options.Config with { TorchDtype = "float16" }, 1);
        await Assert.ThrowsAsync<ArgumentException>(() => ModelFolderGenerator.GenerateAsync(dir.Combine("x"), options with { Weights = wrongDtype }));
        var missing = LlamaWeights.Random(options.Config, 1).Skip(1).ToList();
        await Assert.ThrowsAsync<ArgumentException>(() => ModelFolderGenerator.GenerateAsync(dir.Combine("x"), options with { Weights = missing }));
        var tooSmallVocab = options with { Config = options.Config with { VocabSize = 300, BosTokenId = 0, EosTokenId = 1 } };
        await Assert.ThrowsAsync<ArgumentException>(() => ModelFolderGenerator.GenerateAsync(dir.Combine("x"), tooSmallVocab));
        Assert.Empty(Directory.EnumerateFileSystemEntries(dir.Path));
    }
}
