using System.Text.Json;

namespace Bento.ModelGen.Tests;

public class ShardedCheckpointWriterTests
{
    private static LlamaConfig SmallConfig(bool tied = false) => new()
    {
        VocabSize = 300,
        HiddenSize = 32,
        IntermediateSize = 64,
        NumHiddenLayers = 3,
        NumAttentionHeads = 4,
        NumKeyValueHeads = 2,
        TieWordEmbeddings = tied,
    };

    [Fact]
    public async Task IndexMapsEveryTensorToTheShardThatHoldsIt()
    {
        using var dir = new TempDirectory();
        var tensors = LlamaWeights.Random(SmallConfig(), 1);
        var result = await ShardedCheckpointWriter.WriteAsync(dir.Path, tensors, shardCount: 3);

        var shardNames = new[] { "model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors", "model-00003-of-00003.safetensors" };
        Assert.Equal(shardNames.Append("model.safetensors.index.json"), result.FileNames);
        Assert.Equal(
            result.FileNames.OrderBy(n => n, StringComparer.Ordinal),
            Directory.EnumerateFiles(dir.Path).Select(Path.GetFileName).OrderBy(n => n, StringComparer.Ordinal));

        using var index = JsonDocument.Parse(await File.ReadAllBytesAsync(dir.Combine("model.safetensors.index.json")));
        var weightMap = index.RootElement.GetProperty("weight_map").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!);
        var totalSize = index.RootElement.GetProperty("metadata").GetProperty("total_size").GetInt64();

        var actualLocation = new Dictionary<string, string>();
        long dataBytes = 0;
        foreach (var shard in shardNames)
        {
            var file = SafetensorsFile.Read(dir.Combine(shard));
            Assert.NotEmpty(file.Tensors);
            foreach (var t in file.Tensors)
            {
                actualLocation.Add(t.Name, shard);
                dataBytes += t.End - t.Begin;
            }
        }
        Assert.Equal(actualLocation.OrderBy(kv => kv.Key, StringComparer.Ordinal), weightMap.OrderBy(kv => kv.Key, StringComparer.Ordinal));
        Assert.Equal(tensors.Select(t => t.Name).Order(StringComparer.Ordinal), weightMap.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(tensors.Sum(t => t.ByteLength), totalSize);
        Assert.Equal(dataBytes, totalSize);
        Assert.Equal(totalSize, result.TotalTensorBytes);
        Assert.Equal(Directory.EnumerateFiles(dir.Path).Sum(f => new FileInfo(f).Length), result.TotalFileBytes);
    }

    [Fact]
    public async Task ShardingDoesNotChangeTensorBytes()
    {
        using var dir = new TempDirectory();
        Directory.CreateDirectory(dir.Combine("one"));
        Directory.CreateDirectory(dir.Combine("four"));
        var tensors = LlamaWeights.Random(SmallConfig(), 9);
        await ShardedCheckpointWriter.WriteAsync(dir.Combine("one"), tensors, 1);
        await ShardedCheckpointWriter.WriteAsync(dir.Combine("four"), tensors, 4);

        Assert.Equal(new[] { "model.safetensors" }, Directory.EnumerateFiles(dir.Combine("one")).Select(Path.GetFileName));
        var single = SafetensorsFile.Read(dir.Combine("one", "model.safetensors"));
        var sharded = Directory.EnumerateFiles(dir.Combine("four"), "*.safetensors").Select(SafetensorsFile.Read).ToList();
        foreach (var tensor in single.Tensors)
        {
            var shard = sharded.Single(s => s.Tensors.Any(t => t.Name == tensor.Name));
            Assert.Equal(single.ReadBytes(tensor), shard.ReadBytes(shard[tensor.Name]));
        }
    }

    [Fact]
    public void SplitKeepsOrderAndBalancesBytes()
    {
        var tensors = Enumerable.Range(0, 20).Select(i => TensorSource.Constant($"t{i:D2}", "F32", [100], 0)).ToList();
        var shards = ShardedCheckpointWriter.SplitIntoShards(tensors, 3);
        Assert.Equal(3, shards.Count);
        Assert.Equal(tensors.Select(t => t.Name), shards.SelectMany(s => s).Select(t => t.Name));
        Assert.All(shards, s => Assert.InRange(s.Count, 6, 7));
    }

    [Fact]
    public void SplitNeverLeavesAShardEmpty()
    {
        // One huge tensor first: the greedy split must still give every later shard a tensor.
        var tensors = new List<TensorSource> { TensorSource.Constant("huge", "F32", [10_000], 0) };
        tensors.AddRange(Enumerable.Range(0, 3).Select(i => TensorSource.Constant($"small{i}", "F32", [1], 0)));
        var shards = ShardedCheckpointWriter.SplitIntoShards(tensors, 4);
        Assert.All(shards, s => Assert.Single(s));
        Assert.Throws<ArgumentException>(() => ShardedCheckpointWriter.SplitIntoShards(tensors, 5));
    }

    [Fact]
    public void ShardNamesUseFiveDigits() =>
        Assert.Equal("model-00002-of-00010.safetensors", ShardedCheckpointWriter.ShardFileName(2, 10));
}
