namespace Bento.EndToEnd.Tests.Infrastructure;

/// <summary>Paths inside the repository under test, found by walking up from the test assembly to BentoBuilder.sln.</summary>
public static class Repo
{
    private static readonly Lazy<string> LazyRoot = new(FindRoot);

    public static string Root => LazyRoot.Value;

    /// <summary>The bash launcher <c>./bento</c> at the repository root.</summary>
    public static string Launcher => Path.Combine(Root, "bento");

    /// <summary>The bundled example. Read-only for tests: build from a copy (<see cref="Models.CopyExample"/>) when a test changes anything.</summary>
    public static string ExampleDirectory => Path.Combine(Root, "examples", "tiny-llama");

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "BentoBuilder.sln")))
                return dir.FullName;
        throw new InvalidOperationException($"no BentoBuilder.sln above {AppContext.BaseDirectory}");
    }
}
