using Bento.ModelGen;

namespace Bento.Core.Tests;

/// <summary>
/// Small generated Llama model folders for tests. Generated once per test run (BPE training takes a moment) and
/// copied into each test's own directory, so tests can corrupt their copy freely.
/// </summary>
public static class ModelFixture
{
    private static readonly Lazy<Task<string>> Template = new(() => GenerateAsync(new RandomModelSpec
    {
        HiddenSize = 64, IntermediateSize = 128, Layers = 2, Heads = 4, KeyValueHeads = 2, MaxPositionEmbeddings = 256,
    }, shards: 1));

    private static readonly Lazy<Task<string>> ShardedTemplate = new(() => GenerateAsync(new RandomModelSpec
    {
        HiddenSize = 64, IntermediateSize = 128, Layers = 4, Heads = 4, KeyValueHeads = 2, MaxPositionEmbeddings = 256, Shards = 2,
    }, shards: 2));

    /// <summary>Qwen2.5- and Qwen3-shaped templates (published config keys; Qwen3 with head_dim 32, not 64 / 4); Phi-3 as
    /// Phi-4-mini (fused projections, partial rotary, LongRoPE, tied), Gemma 2 and Gemma 3 with head_dim 32.</summary>
    private static readonly Dictionary<ModelFamily, Lazy<Task<string>>> FamilyTemplates = new()
    {
        [ModelFamily.Qwen2] = new(() => GenerateAsync(new RandomModelSpec
        {
            Family = ModelFamily.Qwen2, HiddenSize = 64, IntermediateSize = 128, Layers = 2, Heads = 4, KeyValueHeads = 2,
            TiedEmbeddings = true, RopeTheta = 1e6, MaxPositionEmbeddings = 256,
        }, shards: 1, "qwen2")),
        [ModelFamily.Qwen3] = new(() => GenerateAsync(new RandomModelSpec
        {
            Family = ModelFamily.Qwen3, HiddenSize = 64, IntermediateSize = 128, Layers = 2, Heads = 4, KeyValueHeads = 2, HeadDim = 32,
            TiedEmbeddings = true, RopeTheta = 1e6, MaxPositionEmbeddings = 256,
        }, shards: 1, "qwen3")),
        [ModelFamily.Phi3] = new(() => GenerateAsync(new RandomModelSpec
        {
            Like = "phi-4-mini-instruct", HiddenSize = 128, IntermediateSize = 128, Layers = 2, Heads = 4, KeyValueHeads = 2,
            MaxPositionEmbeddings = 1024,
        }, shards: 1, "phi3")),
        [ModelFamily.Gemma2] = new(() => GenerateAsync(new RandomModelSpec
        {
            Like = "gemma-2-2b-it", HiddenSize = 64, IntermediateSize = 128, Layers = 2, Heads = 4, KeyValueHeads = 2, HeadDim = 32,
            MaxPositionEmbeddings = 256,
        }, shards: 1, "gemma2")),
        [ModelFamily.Gemma3] = new(() => GenerateAsync(new RandomModelSpec
        {
            Like = "gemma-3-1b-it", HiddenSize = 64, IntermediateSize = 128, Layers = 2, Heads = 4, KeyValueHeads = 2, HeadDim = 32,
            MaxPositionEmbeddings = 256,
        }, shards: 1, "gemma3")),
    };

    /// <summary>gemma-3-4b-it's layout (Gemma3ForConditionalGeneration: text_config, language_model.* names, a vision tower).</summary>
    private static readonly Lazy<Task<string>> Gemma3MultimodalTemplate = new(() => GenerateAsync(new RandomModelSpec
    {
        Like = "gemma-3-4b-it", HiddenSize = 64, IntermediateSize = 128, Layers = 2, Heads = 4, KeyValueHeads = 2, HeadDim = 32,
        MaxPositionEmbeddings = 256,
    }, shards: 1, "gemma3-multimodal"));

    private static async Task<string> GenerateAsync(RandomModelSpec spec, int shards, string name = "llama")
    {
        var dir = Path.Combine(Path.GetTempPath(), $"bento-fixture-{Environment.ProcessId}-{name}-{shards}");
        if (Directory.Exists(dir)) Directory.Delete(dir, true);
        await ModelFolderGenerator.GenerateAsync(dir, ModelPresets.Random(spec with { Shards = shards }));
        return dir;
    }

    /// <summary>Copies a generated model into <paramref name="destination"/> (created if needed) and returns it.</summary>
    /// <param name="multimodal">Gemma 3 only: its multimodal checkpoint layout.</param>
    public static async Task<string> CopyToAsync(string destination, bool sharded = false, ModelFamily family = ModelFamily.Llama, bool multimodal = false)
    {
        var source = await (multimodal ? Gemma3MultimodalTemplate : family != ModelFamily.Llama ? FamilyTemplates[family] : sharded ? ShardedTemplate : Template).Value;
        Directory.CreateDirectory(destination);
        foreach (var file in Directory.EnumerateFiles(source))
            File.Copy(file, Path.Combine(destination, Path.GetFileName(file)), overwrite: true);
        return destination;
    }

    /// <summary>A build directory: model files plus a bentofile.yaml with <paramref name="bentofile"/>.</summary>
    public static async Task<string> BuildDirectoryAsync(TempDirectory temp, string bentofile = "name: fixture\n", string sub = "project", bool sharded = false,
        ModelFamily family = ModelFamily.Llama, bool multimodal = false)
    {
        var dir = temp.Combine(sub);
        await CopyToAsync(dir, sharded, family, multimodal);
        File.WriteAllText(Path.Combine(dir, "bentofile.yaml"), bentofile);
        return dir;
    }
}
