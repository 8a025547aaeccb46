namespace Bento.ModelGen.Tests;

public class CommittedExampleTests(TinyLlamaFixture tiny) : IClassFixture<TinyLlamaFixture>
{
    // The weights are left out on purpose: a later step may replace them with trained ones. The config
    // and tokenizer must always be what the generator writes, or the example and the tool have drifted.
    [Theory]
    [InlineData("config.json")]
    [InlineData("generation_config.json")]
    [InlineData("tokenizer.json")]
    [InlineData("tokenizer_config.json")]
    [InlineData("special_tokens_map.json")]
    public void CommittedExampleMatchesTheGenerator(string fileName)
    {
        var committed = Path.Combine(Repo.ExampleDirectory, fileName);
        Assert.True(File.Exists(committed), $"{committed} is missing; run: bento-modelgen tiny-llama examples/tiny-llama");
        Assert.True(
            File.ReadAllBytes(committed).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(tiny.Directory, fileName))),
            $"{committed} differs from the generator's output; regenerate with: bento-modelgen tiny-llama examples/tiny-llama");
    }

    [Fact]
    public void CommittedWeightsHaveTheConfiguredShapes()
    {
        var committed = SafetensorsFile.Read(Path.Combine(Repo.ExampleDirectory, "model.safetensors"));
        var generated = SafetensorsFile.Read(Path.Combine(tiny.Directory, "model.safetensors"));
        Assert.Equal(
            generated.Tensors.Select(t => (t.Name, t.DType, string.Join(",", t.Shape))),
            committed.Tensors.Select(t => (t.Name, t.DType, string.Join(",", t.Shape))));
    }

}
