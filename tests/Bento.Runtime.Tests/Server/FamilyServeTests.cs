using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Bento.ModelGen;
using Bento.Runtime.Model;
using static Bento.Runtime.Tests.Model.ModelTestSupport;

namespace Bento.Runtime.Tests.Server;

/// <summary>
/// A bento of each family other than Llama (Qwen2, Qwen3, Phi-3, Phi-4-mini, Gemma 2, Gemma 3), built by the real
/// builder and served by the real runtime: a greedy completion over HTTP is exactly the runner's own greedy
/// continuation of the same prompt tokens (the runner itself is checked against llama.cpp in LlamaCppCrossCheckTests,
/// PhiCrossCheckTests and GemmaCrossCheckTests).
/// </summary>
public sealed class FamilyServeTests
{
    private const int MaxTokens = 12;

    /// <param name="like">The published config the model copies (null: the family's built-in keys).</param>
    [Theory]
    [InlineData(ModelFamily.Qwen2, null, null)]
    [InlineData(ModelFamily.Qwen3, 48, null)]
    [InlineData(ModelFamily.Phi3, null, "phi-3-mini-4k-instruct")]
    [InlineData(ModelFamily.Phi3, null, "phi-4-mini-instruct")]
    [InlineData(ModelFamily.Gemma2, 48, "gemma-2-2b-it")]
    [InlineData(ModelFamily.Gemma3, 48, "gemma-3-1b-it")]
    public async Task A_served_greedy_completion_is_the_runners_greedy_continuation(ModelFamily family, int? headDim, string? like)
    {
        using var temp = new TempDirectory("bento-family-serve-");
        var project = Path.Combine(temp.Path, like ?? family.ModelType());
        var generated = await GenerateAsync(project, new RandomModelSpec
        {
            Family = family, Like = like, HiddenSize = 128, IntermediateSize = 256, Layers = family == ModelFamily.Gemma3 ? 6 : 2,
            Heads = 4, KeyValueHeads = 2, HeadDim = headDim, TiedEmbeddings = true, RopeTheta = 1e6, MaxPositionEmbeddings = 256, Seed = 21,
        }, initStd: 0.15);
        Assert.Equal(family.ArchitectureName(), ModelConfig.Load(project).Architecture);
        var name = $"tiny-{(like ?? family.ModelType()).Replace('.', '-')}";
        await File.WriteAllTextAsync(Path.Combine(project, "bentofile.yaml"),
            $"name: {name}\nmodel: .\nruntime:\n  max_model_len: 256\n  dtype: float32\n");

        await using var server = await RunningServer.StartAsync(projectDirectory: project);
        async Task<JsonNode> Post(string path, JsonObject body)
        {
            using var response = await server.Http.PostAsync(new Uri(server.BaseUri, path), new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"));
            var text = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"{path}: {(int)response.StatusCode} {text}");
            return JsonNode.Parse(text)!;
        }

        const string prompt = "1 2 3 hello, world";
        var promptTokens = (await Post("/tokenize", new JsonObject { ["model"] = name, ["prompt"] = prompt }))["tokens"]!
            .AsArray().Select(t => t!.GetValue<int>()).ToArray();
        var completion = await Post("/v1/completions", new JsonObject
        {
            ["model"] = name, ["prompt"] = prompt, ["max_tokens"] = MaxTokens, ["temperature"] = 0, ["ignore_eos"] = true,
        });
        Assert.Equal(MaxTokens, completion["usage"]!["completion_tokens"]!.GetValue<int>());

        using var runner = EagerModelRunner.Open(project, new EagerRunnerOptions { Slots = 1, MaxSequenceLength = 256 });
        var (tokens, _) = Greedy(runner, promptTokens, MaxTokens);
        // Completions leave special tokens out of the text (vLLM's skip_special_tokens); ModelGen puts them last.
        var firstSpecial = generated.Config.VocabSize - LlamaTokenizer.SpecialTokens.Count;
        var expected = (await Post("/detokenize", new JsonObject
        {
            ["model"] = name, ["tokens"] = new JsonArray(tokens.Where(t => t < firstSpecial).Select(t => (JsonNode)t).ToArray()),
        }))["prompt"]!.GetValue<string>();
        Assert.True(expected.Length > MaxTokens / 2, $"too little text to compare: '{expected}'");
        Assert.Equal(expected, completion["choices"]![0]!["text"]!.GetValue<string>());
    }
}
