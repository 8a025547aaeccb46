using Bento.Core.Build;
using Bento.Core.Store;

namespace Bento.Images.Tests.Infrastructure;

/// <summary>Bentos for the tests, built with the real builder from copies of the bundled example's model files.</summary>
public static class Bentos
{
    private static readonly string[] ModelFiles = ["config.json", "generation_config.json", "model.safetensors", "special_tokens_map.json", "tokenizer.json", "tokenizer_config.json"];

    /// <summary>A fixed creation time, so bentos built in different stores are identical.</summary>
    public static readonly DateTimeOffset Created = new(2026, 1, 2, 3, 4, 5, TimeSpan.Zero);

    public static string ExampleDirectory()
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(5);
        while (!ModelFiles.All(f => File.Exists(Path.Combine(Repo.ExampleDirectory, f))))
        {
            if (DateTime.UtcNow > deadline) throw new InvalidOperationException($"{Repo.ExampleDirectory} lacks its generated model files (tools/Bento.ModelGen tiny-llama)");
            Thread.Sleep(2000);
        }
        return Repo.ExampleDirectory;
    }

    /// <summary>Copies the example's model files into <paramref name="directory"/> and writes <paramref name="bentofile"/> next to them.</summary>
    public static string Project(string directory, string bentofile)
    {
        Directory.CreateDirectory(directory);
        var example = ExampleDirectory();
        foreach (var f in ModelFiles) File.Copy(Path.Combine(example, f), Path.Combine(directory, f), overwrite: true);
        File.WriteAllText(Path.Combine(directory, "bentofile.yaml"), bentofile);
        return directory;
    }

    public static async Task<StoredBento> BuildAsync(BentoStore store, string projectDirectory, DateTimeOffset? created = null)
    {
        var result = await new BentoBuilder(store, null, () => created ?? Created).BuildAsync(Path.Combine(projectDirectory, "bentofile.yaml"));
        return result.Bento;
    }

    /// <summary>A project from the example with the given bentofile, built into <paramref name="store"/>.</summary>
    public static Task<StoredBento> CreateAsync(BentoStore store, string projectDirectory, string bentofile, DateTimeOffset? created = null) =>
        BuildAsync(store, Project(projectDirectory, bentofile), created);
}
