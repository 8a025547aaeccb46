namespace Bento.Images.Tests.Infrastructure;

/// <summary>Paths in the repository under test (found by walking up to BentoBuilder.sln).</summary>
public static class Repo
{
    private static readonly Lazy<string> LazyRoot = new(() =>
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "BentoBuilder.sln"))) return dir.FullName;
        throw new InvalidOperationException($"no BentoBuilder.sln above {AppContext.BaseDirectory}");
    });

    public static string Root => LazyRoot.Value;

    public static string Launcher => Path.Combine(Root, "bento");

    public static string Example => Path.Combine(Root, "examples", "tiny-llama");

    /// <summary>Machine-wide cache for expensive fixtures (the debootstrapped base image, the published runtime).</summary>
    public static string MachineCache =>
        Environment.GetEnvironmentVariable("BENTO_TEST_CACHE") is { Length: > 0 } c ? c : "/var/cache/bentobuilder";
}
