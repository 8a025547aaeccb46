namespace Bento.ModelGen.Tests;

/// <summary>Runs alone (no other test allocating in parallel) so process-wide allocation counts mean
/// something.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class FlatMemoryCollection
{
    public const string Name = "flat memory";
}

[Collection(FlatMemoryCollection.Name)]
public class FlatMemoryTests
{
    [Fact]
    [Trait("Category", "Slow")]
    public async Task WritingA256MiBModelAllocatesFarLessThanItsSize()
    {
        using var dir = new TempDirectory();
        var options = ModelPresets.Random(new RandomModelSpec { TargetBytes = 256L << 20, Shards = 2 });
        var weightBytes = LlamaWeights.TotalBytes(options.Config);
        Assert.InRange(weightBytes, 240L << 20, 272L << 20);

        GC.Collect();
        var allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
        var model = await ModelFolderGenerator.GenerateAsync(dir.Combine("m"), options);
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;

        Assert.Equal(weightBytes, model.WeightBytes);
        Assert.True(model.TotalBytes > weightBytes);
        // Streaming keeps a few 1 MiB chunk buffers per core (pooled); holding even one large tensor,
        // let alone the file, would allocate far more than this.
        Assert.True(allocated < 32L << 20, $"allocated {allocated / (1 << 20)} MiB while writing {weightBytes / (1 << 20)} MiB");
    }
}
