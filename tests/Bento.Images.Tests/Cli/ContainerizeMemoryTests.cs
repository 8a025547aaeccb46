using Bento.Images.Tests.Infrastructure;
using Bento.Images.Tests.Registry;
using Bento.ModelGen;
using Xunit.Abstractions;

namespace Bento.Images.Tests.Cli;

/// <summary>
/// Memory stays flat with weight size: <c>bento containerize</c> streams every weight layer (computing its digest,
/// writing an OCI layout and a docker-archive, pushing it chunked to a registry) without holding a layer in memory.
/// The peak RSS (GNU time) for a model of about 256 MiB must not exceed that for about 24 MiB by more than 64 MiB: a
/// single 128 MiB shard buffered anywhere would.
/// </summary>
[Trait("Category", "Slow")]
public sealed class ContainerizeMemoryTests(ITestOutputHelper output) : ImageTestBase
{
    private const long MiB = 1 << 20;

    [Fact]
    public async Task Peak_memory_does_not_grow_with_the_weights_for_layouts_archives_and_pushes()
    {
        var time = HostTools.Require("time", "time");
        using var registry = new RegistryServer();
        var small = await PeakRssAsync(time, registry, "mem-small", "24MiB");
        var big = await PeakRssAsync(time, registry, "mem-big", "256MiB");
        output.WriteLine($"peak RSS: {small / MiB} MiB for ~24 MiB of weights, {big / MiB} MiB for ~256 MiB");
        Assert.True(big < small + 64 * MiB, $"peak RSS {big / MiB} MiB for ~256 MiB of weights vs {small / MiB} MiB for ~24 MiB: memory grows with the weights");
    }

    private async Task<long> PeakRssAsync(string time, RegistryServer registry, string name, string size)
    {
        var project = Scratch.Combine(name);
        var (outDir, options) = CommandLine.Parse(["random", project, "--hidden", "512", "--intermediate", "1408", "--heads", "8", "--kv-heads", "2", "--shards", "2", "--target-bytes", size]);
        await ModelFolderGenerator.GenerateAsync(outDir, options(), CancellationToken.None);
        await File.WriteAllTextAsync(Path.Combine(project, "bentofile.yaml"), $"name: {name}\n");
        var bento = await Bentos.BuildAsync(Store, project);

        var rss = Scratch.Combine(name + ".rss");
        var r = await ProcessRunner.RunAsync(time,
            ["-o", rss, "-f", "%M", Repo.Launcher, "containerize", bento.Tag, "--base-image", $"oci:{BaseLayout}:base", "--runtime", Runtime,
             "--output", $"oci:{Scratch.Combine(name + "-layout")}", "--output", $"docker-archive:{Scratch.Combine(name + ".tar")}",
             "--push", "-t", $"{registry.Host}/memory/{name}:1", "--insecure"],
            Scratch.CreateDirectory("cwd-" + name),
            new Dictionary<string, string?> { ["BENTO_HOME"] = Store.Root, ["SOURCE_DATE_EPOCH"] = null, ["DOCKER_CONFIG"] = Scratch.CreateDirectory("docker-" + name) },
            TimeSpan.FromMinutes(10));
        Assert.True(r.ExitCode == 0, $"{r}\n--- registry log ---\n{registry.Log()}");
        var weights = bento.Manifest.Model.Files.Where(f => f.Path.EndsWith(".safetensors", StringComparison.Ordinal)).Sum(f => f.Size);
        Assert.True(new FileInfo(Scratch.Combine(name + ".tar")).Length > weights, "the archive holds the weights");
        return long.Parse(File.ReadAllLines(rss).Last(l => l.Trim().Length > 0).Trim()) * 1024;
    }
}
