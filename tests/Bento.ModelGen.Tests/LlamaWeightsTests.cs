namespace Bento.ModelGen.Tests;

public class LlamaWeightsTests
{
    private static readonly LlamaConfig Gqa = new()
    {
        VocabSize = 320,
        HiddenSize = 64,
        IntermediateSize = 96,
        NumHiddenLayers = 2,
        NumAttentionHeads = 8,
        NumKeyValueHeads = 2,
    };

    [Fact]
    public void DescribeUsesHuggingFaceNamesAndShapes()
    {
        var specs = LlamaWeights.Describe(Gqa).ToDictionary(s => s.Name, s => s.Shape);
        Assert.Equal(2 + 9 * 2 + 1, specs.Count);
        Assert.Equal(new long[] { 320, 64 }, specs["model.embed_tokens.weight"]);
        Assert.Equal(new long[] { 320, 64 }, specs["lm_head.weight"]);
        Assert.Equal(new long[] { 64 }, specs["model.norm.weight"]);
        for (var i = 0; i < 2; i++)
        {
            var p = $"model.layers.{i}.";
            Assert.Equal(new long[] { 64, 64 }, specs[p + "self_attn.q_proj.weight"]);   // 8 heads * 8
            Assert.Equal(new long[] { 16, 64 }, specs[p + "self_attn.k_proj.weight"]);   // 2 kv heads * 8
            Assert.Equal(new long[] { 16, 64 }, specs[p + "self_attn.v_proj.weight"]);
            Assert.Equal(new long[] { 64, 64 }, specs[p + "self_attn.o_proj.weight"]);
            Assert.Equal(new long[] { 96, 64 }, specs[p + "mlp.gate_proj.weight"]);
            Assert.Equal(new long[] { 96, 64 }, specs[p + "mlp.up_proj.weight"]);
            Assert.Equal(new long[] { 64, 96 }, specs[p + "mlp.down_proj.weight"]);
            Assert.Equal(new long[] { 64 }, specs[p + "input_layernorm.weight"]);
            Assert.Equal(new long[] { 64 }, specs[p + "post_attention_layernorm.weight"]);
        }
    }

    [Fact]
    public void TiedModelsHaveNoLmHead()
    {
        var names = LlamaWeights.Describe(Gqa with { TieWordEmbeddings = true }).Select(s => s.Name).ToList();
        Assert.DoesNotContain("lm_head.weight", names);
        Assert.Contains("model.embed_tokens.weight", names);
        Assert.Equal(LlamaWeights.Describe(Gqa).Count - 1, names.Count);
    }

    [Fact]
    public void TotalBytesFollowsDtype()
    {
        var f32 = LlamaWeights.TotalBytes(Gqa);
        Assert.Equal(LlamaWeights.Describe(Gqa).Sum(s => s.ElementCount) * 4, f32);
        Assert.Equal(f32 / 2, LlamaWeights.TotalBytes(Gqa with { TorchDtype = "bfloat16" }));
        Assert.Equal(f32 / 2, LlamaWeights.TotalBytes(Gqa with { TorchDtype = "float16" }));
    }

    [Fact]
    public async Task RandomInitIsNormalWithStdDevPointZeroTwoAndNormsAreOne()
    {
        using var dir = new TempDirectory();
        await ShardedCheckpointWriter.WriteAsync(dir.Path, LlamaWeights.Random(Gqa, 42));
        var file = SafetensorsFile.Read(dir.Combine("model.safetensors"));

        var embed = file.ReadFloat32("model.embed_tokens.weight");
        var mean = embed.Average();
        var std = Math.Sqrt(embed.Select(x => (x - mean) * (x - mean)).Average());
        Assert.InRange(mean, -0.001, 0.001);
        Assert.InRange(std, 0.0195, 0.0205);
        Assert.All(file.ReadFloat32("model.norm.weight"), x => Assert.Equal(1f, x));
        Assert.All(file.ReadFloat32("model.layers.1.input_layernorm.weight"), x => Assert.Equal(1f, x));
        // Every tensor has its own stream: two same-shaped tensors must differ.
        Assert.NotEqual(file.ReadFloat32("model.layers.0.self_attn.k_proj.weight"), file.ReadFloat32("model.layers.0.self_attn.v_proj.weight"));
    }

    [Fact]
    public async Task SeedChangesTheValues()
    {
        using var dir = new TempDirectory();
        Directory.CreateDirectory(dir.Combine("a"));
        Directory.CreateDirectory(dir.Combine("b"));
        await ShardedCheckpointWriter.WriteAsync(dir.Combine("a"), LlamaWeights.Random(Gqa, 1));
        await ShardedCheckpointWriter.WriteAsync(dir.Combine("b"), LlamaWeights.Random(Gqa, 2));
        Assert.NotEqual(
            SafetensorsFile.Read(dir.Combine("a", "model.safetensors")).ReadFloat32("lm_head.weight"),
            SafetensorsFile.Read(dir.Combine("b", "model.safetensors")).ReadFloat32("lm_head.weight"));
    }

    [Fact]
    public async Task FromValuesStoresGivenValues()
    {
        using var dir = new TempDirectory();
        var config = Gqa with { TieWordEmbeddings = true, TorchDtype = "bfloat16" };
        var values = LlamaWeights.Describe(config).ToDictionary(
            s => s.Name,
            s => (ReadOnlyMemory<float>)Enumerable.Range(0, (int)s.ElementCount).Select(i => i % 7 * 0.5f).ToArray());
        await ShardedCheckpointWriter.WriteAsync(dir.Path, LlamaWeights.FromValues(config, values));
        var file = SafetensorsFile.Read(dir.Combine("model.safetensors"));
        var norm = file["model.norm.weight"];
        Assert.Equal("BF16", norm.DType);
        var bytes = file.ReadBytes(norm);
        Assert.Equal(
            Enumerable.Range(0, 64).Select(i => i % 7 * 0.5f),
            Enumerable.Range(0, 64).Select(i => FloatConversion.FromBFloat16Bits(BitConverter.ToUInt16(bytes, i * 2))));
    }

    [Fact]
    public void FromValuesRejectsMissingExtraAndMisSizedTensors()
    {
        var specs = LlamaWeights.Describe(Gqa);
        var full = specs.ToDictionary(s => s.Name, s => (ReadOnlyMemory<float>)new float[s.ElementCount]);

        var missing = new Dictionary<string, ReadOnlyMemory<float>>(full);
        missing.Remove("lm_head.weight");
        Assert.Throws<ArgumentException>(() => LlamaWeights.FromValues(Gqa, missing));

        var extra = new Dictionary<string, ReadOnlyMemory<float>>(full) { ["model.bogus"] = new float[1] };
        Assert.Throws<ArgumentException>(() => LlamaWeights.FromValues(Gqa, extra));

        var wrong = new Dictionary<string, ReadOnlyMemory<float>>(full) { ["model.norm.weight"] = new float[63] };
        Assert.Throws<ArgumentException>(() => LlamaWeights.FromValues(Gqa, wrong));
    }

    [Theory]
    [InlineData(64, 6, 2)]   // hidden not divisible by heads
    [InlineData(64, 8, 3)]   // heads not divisible by kv heads
    public void InvalidArchitecturesAreRejected(int hidden, int heads, int kvHeads) =>
        Assert.Throws<ArgumentException>(() => LlamaWeights.Describe(Gqa with { HiddenSize = hidden, NumAttentionHeads = heads, NumKeyValueHeads = kvHeads }));

    [Fact]
    public void UnknownDtypeIsRejected() =>
        Assert.Throws<ArgumentException>(() => (Gqa with { TorchDtype = "float64" }).Validate());
}
