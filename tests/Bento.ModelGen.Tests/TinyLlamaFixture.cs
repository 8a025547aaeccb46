namespace Bento.ModelGen.Tests;

/// <summary>Generates the tiny-llama example once for all tests that only read it.</summary>
public sealed class TinyLlamaFixture : IAsyncLifetime
{
    private readonly TempDirectory _root = new();

    public string Directory => Path.Combine(_root.Path, "tiny-llama");

    public GeneratedModel Model { get; private set; } = null!;

    public async Task InitializeAsync() =>
        Model = await ModelFolderGenerator.GenerateAsync(Directory, ModelPresets.TinyLlama());

    public Task DisposeAsync()
    {
        _root.Dispose();
        return Task.CompletedTask;
    }
}
