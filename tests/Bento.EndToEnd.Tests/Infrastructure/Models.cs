using Bento.ModelGen;

namespace Bento.EndToEnd.Tests.Infrastructure;

/// <summary>
/// Model folders for the tests: copies of the bundled example, and a small Llama model generated once per test run
/// (BPE training takes a moment) and copied into each test's own directory, so tests can damage their copy freely.
/// </summary>
public static class Models
{
    private static readonly string[] ExampleRequired = ["config.json", "tokenizer.json", "model.safetensors", "bentofile.yaml"];

    private static readonly Lazy<Task<string>> Generated = new(GenerateAsync);

    private static async Task<string> GenerateAsync()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"bento-e2e-model-{Environment.ProcessId}");
        if (Directory.Exists(dir)) Directory.Delete(dir, true);
        await ModelFolderGenerator.GenerateAsync(dir, ModelPresets.Random(new RandomModelSpec
        {
            HiddenSize = 64, IntermediateSize = 128, Layers = 2, Heads = 4, KeyValueHeads = 2, MaxPositionEmbeddings = 256,
        }));
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try { Directory.Delete(dir, true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        };
        return dir;
    }

    /// <summary>Copies the generated model's files (no bentofile) into <paramref name="destination"/> and returns it.</summary>
    public static async Task<string> CopyGeneratedAsync(string destination)
    {
        var source = await Generated.Value;
        CopyFiles(source, destination);
        return destination;
    }

    /// <summary>
    /// Copies examples/tiny-llama (bentofile.yaml and model files) into <paramref name="destination"/>. Waits a few
    /// minutes for the example's model if it is still being generated.
    /// </summary>
    public static string CopyExample(string destination)
    {
        WaitForExample();
        CopyFiles(Repo.ExampleDirectory, destination);
        return destination;
    }

    /// <summary>The bundled example's directory, once its generated files are there.</summary>
    public static string WaitForExample()
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(5);
        while (!ExampleRequired.All(f => File.Exists(Path.Combine(Repo.ExampleDirectory, f))))
        {
            if (DateTime.UtcNow > deadline)
                throw new InvalidOperationException($"{Repo.ExampleDirectory} lacks its model files; generate it with tools/Bento.ModelGen (bento-modelgen tiny-llama examples/tiny-llama)");
            Thread.Sleep(2000);
        }
        return Repo.ExampleDirectory;
    }

    private static void CopyFiles(string source, string destination)
    {
        Directory.CreateDirectory(destination);
        foreach (var file in Directory.EnumerateFiles(source))
        {
            var target = Path.Combine(destination, Path.GetFileName(file));
            File.Copy(file, target, overwrite: true);
            File.SetUnixFileMode(target, (UnixFileMode)0b110_100_100); // 0644: readable by the 'nobody' test
        }
    }

    /// <summary>Total size of the files directly in <paramref name="directory"/>.</summary>
    public static long FolderSize(string directory) => Directory.EnumerateFiles(directory).Sum(f => new FileInfo(f).Length);
}
