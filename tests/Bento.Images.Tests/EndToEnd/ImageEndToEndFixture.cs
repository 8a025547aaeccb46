using Bento.Images.Tests.Infrastructure;

namespace Bento.Images.Tests.EndToEnd;

[CollectionDefinition(Name)]
public sealed class ImageEndToEndCollection : ICollectionFixture<ImageEndToEndFixture>
{
    public const string Name = "image end-to-end";
}

/// <summary>
/// One image for the end-to-end tests, made the way a user makes it: the bundled example built with ./bento build,
/// then ./bento containerize on the real Debian 13 base with the real (published) runtime, into an OCI layout.
/// Later tests reuse the store, so their containerize runs hit the layer cache.
/// </summary>
public sealed class ImageEndToEndFixture : IAsyncLifetime
{
    public TempDirectory Scratch { get; } = new();
    public string Home => Scratch.Combine("home");
    public string BaseLayout { get; private set; } = "";
    public string Tag { get; private set; } = "";
    public string Layout => Scratch.Combine("layout");
    public string Digest { get; private set; } = "";
    public ProcessResult Containerize { get; private set; } = null!;

    public Task<ProcessResult> BentoAsync(IReadOnlyDictionary<string, string?>? env, params string[] args)
    {
        var environment = new Dictionary<string, string?>
        {
            ["BENTO_HOME"] = Home,
            ["SOURCE_DATE_EPOCH"] = null,
            ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1",
            ["DOTNET_NOLOGO"] = "1",
        };
        foreach (var (k, v) in env ?? new Dictionary<string, string?>()) environment[k] = v;
        return ProcessRunner.RunAsync(Repo.Launcher, args, Scratch.CreateDirectory("work"), environment, TimeSpan.FromMinutes(20));
    }

    /// <summary>The runtime the first containerize published (or was given); later runs use it, so that a change to
    /// runtime/ while the tests run (other work in progress) cannot change the image under them.</summary>
    public string? Runtime { get; private set; }

    public (string[] Args, Dictionary<string, string?> Env) ContainerizeArgs(string tag)
    {
        var (runtimeArgs, env) = Runtime is null ? RealRuntime.ForCli() : (["--runtime", Runtime], new Dictionary<string, string?>());
        return (["containerize", tag, "--base-image", $"oci:{BaseLayout}:{TestBaseImage.Reference}", .. runtimeArgs], env);
    }

    public async Task InitializeAsync()
    {
        BaseLayout = await TestBaseImage.GetAsync();
        var project = Scratch.CreateDirectory("tiny-llama");
        foreach (var file in Directory.EnumerateFiles(Bentos.ExampleDirectory()))
            File.Copy(file, Path.Combine(project, Path.GetFileName(file)));
        var build = await BentoAsync(null, "build", project);
        if (build.ExitCode != 0) throw new InvalidOperationException($"bento build failed:\n{build}");
        Tag = build.LastStdoutLine;
        var (args, env) = ContainerizeArgs(Tag);
        Containerize = await BentoAsync(env, [.. args, "--output", $"oci:{Layout}:e2e"]);
        if (Containerize.ExitCode != 0) throw new InvalidOperationException($"bento containerize failed:\n{Containerize}");
        Digest = Containerize.LastStdoutLine;
        Runtime = Containerize.StderrLines.Where(l => l.StartsWith("runtime: ", StringComparison.Ordinal)).Select(l => l["runtime: ".Length..]).Single();
    }

    public Task DisposeAsync()
    {
        Scratch.Dispose();
        return Task.CompletedTask;
    }
}
