using System.Text.Json.Nodes;
using Bento.ModelGen;
using Bento.Runtime.Tokenization;

namespace Bento.Runtime.Tests.Tokenization;

/// <summary>Where the committed example model lives, and ways to load (and deliberately alter) its
/// tokenizer files.</summary>
internal static class TokenizerTestFiles
{
    private static readonly Lazy<string> ExampleDirectoryPath = new(FindExampleDirectory);
    private static readonly Lazy<HfTokenizer> ExampleTokenizer = new(() => HfTokenizer.Load(ExampleDirectory));
    private static readonly Lazy<LlamaTokenizer> GeneratedTokenizer = new(() => LlamaTokenizer.TrainOnSyntheticCorpus());

    /// <summary>examples/tiny-llama, found by walking up from the test binaries to the repository root.</summary>
    public static string ExampleDirectory => ExampleDirectoryPath.Value;

    /// <summary>The example's tokenizer, loaded once (encoding is thread-safe).</summary>
    public static HfTokenizer Example => ExampleTokenizer.Value;

    /// <summary>ModelGen's tokenizer trained exactly as the example's was; its encoder is independent of ours.</summary>
    public static LlamaTokenizer Reference => GeneratedTokenizer.Value;

    public static string ReadExample(string file) => File.ReadAllText(Path.Combine(ExampleDirectory, file));

    /// <summary>The example's tokenizer.json as a mutable tree, for tests that change one component.</summary>
    public static JsonObject ExampleTokenizerJson() => JsonNode.Parse(ReadExample("tokenizer.json"))!.AsObject();

    /// <summary>A tokenizer from an edited tokenizer.json plus the example's other files.</summary>
    public static HfTokenizer WithTokenizerJson(JsonObject tokenizerJson) =>
        HfTokenizer.FromJson(tokenizerJson.ToJsonString(), ReadExample("tokenizer_config.json"), ReadExample("generation_config.json"),
            ReadExample("special_tokens_map.json"));

    private static string FindExampleDirectory()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            var candidate = Path.Combine(directory.FullName, "examples", "tiny-llama");
            if (File.Exists(Path.Combine(candidate, "tokenizer.json")))
                return candidate;
        }
        throw new DirectoryNotFoundException("examples/tiny-llama not found above " + AppContext.BaseDirectory);
    }
}
