namespace Bento.TestSupport;

/// <summary>
/// Paths inside the repository under test. Tests run from bin/ folders at varying depths (and from inside the
/// Debian 13 rootfs, where the checkout is bind-mounted), so the root is found by walking up from the test assembly
/// to BentoBuilder.sln rather than assumed.
/// </summary>
public static class Repo
{
    private static readonly Lazy<string> LazyRoot = new(FindRoot);

    public static string Root => LazyRoot.Value;

    /// <summary>The bash launcher <c>./bento</c> at the repository root.</summary>
    public static string Launcher => Path.Combine(Root, "bento");

    /// <summary>The bundled example. Read-only for tests: build from a copy when a test changes anything.</summary>
    public static string ExampleDirectory => Path.Combine(Root, "examples", "tiny-llama");

    /// <summary>
    /// Machine-wide cache for expensive fixtures (the debootstrapped base image, the published runtime), shared by
    /// fresh clones on the same machine; $BENTO_TEST_CACHE overrides it.
    /// </summary>
    public static string MachineCache =>
        Environment.GetEnvironmentVariable("BENTO_TEST_CACHE") is { Length: > 0 } c ? c : "/var/cache/bentobuilder";

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "BentoBuilder.sln")))
                return dir.FullName;
        throw new InvalidOperationException($"no BentoBuilder.sln above {AppContext.BaseDirectory}");
    }
}
