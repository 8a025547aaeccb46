using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Bento.Images.Oci;
using Bento.Images.Tests.Infrastructure;

namespace Bento.Images.Tests.Cli;

/// <summary>
/// <c>bento containerize</c> through the real launcher (./bento), on the synthetic base and a stand-in runtime so each
/// run takes a second: the digest contract, reproducibility across processes, directories and time, and the error
/// contract (one "error:" line; exit 1, or 2 for usage).
/// </summary>
[Trait("Category", "Slow")]
public sealed partial class ContainerizeCliTests : ImageTestBase
{
    [GeneratedRegex("^sha256:[0-9a-f]{64}$")]
    private static partial Regex DigestLine();

    private Task<ProcessResult> CliAsync(string workingDirectory, IReadOnlyDictionary<string, string?>? env, params string[] args)
    {
        var environment = new Dictionary<string, string?>
        {
            ["BENTO_HOME"] = Store.Root,
            ["SOURCE_DATE_EPOCH"] = null,
            ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1",
            ["DOTNET_NOLOGO"] = "1",
        };
        foreach (var (k, v) in env ?? new Dictionary<string, string?>()) environment[k] = v;
        return ProcessRunner.RunAsync(Repo.Launcher, args, workingDirectory, environment, TimeSpan.FromMinutes(10));
    }

    private Task<ProcessResult> CliAsync(params string[] args) => CliAsync(Scratch.CreateDirectory("cwd-" + Guid.NewGuid().ToString("N")[..6]), null, args);

    private string[] Common(string tag) => ["containerize", tag, "--base-image", $"oci:{BaseLayout}:base", "--runtime", Runtime];

    private static void AssertError(ProcessResult r, int exitCode, params string[] expected)
    {
        Assert.False(r.TimedOut, r.ToString());
        Assert.True(r.ExitCode == exitCode, $"expected exit code {exitCode}:\n{r}");
        var errors = r.StderrLines.Where(l => l.StartsWith("error: ", StringComparison.Ordinal)).ToList();
        Assert.True(errors.Count == 1, $"expected one error line:\n{r}");
        Assert.DoesNotContain("   at ", r.Stderr);
        foreach (var text in expected) Assert.True(errors[0].Contains(text, StringComparison.OrdinalIgnoreCase), $"the error should mention '{text}':\n{r}");
    }

    [Fact]
    public async Task Two_runs_a_second_apart_from_different_directories_print_the_same_digest_and_the_second_hashes_nothing()
    {
        var bento = await BentoAsync();
        var first = await CliAsync(Scratch.CreateDirectory("cwd-a"), null, [.. Common(bento.Tag), "--output", $"oci:{Scratch.Combine("out-a")}:x"]);
        Assert.True(first.ExitCode == 0, first.ToString());
        Assert.Matches(DigestLine(), first.LastStdoutLine);
        await Task.Delay(1100);
        var second = await CliAsync(Scratch.CreateDirectory("cwd-b", "deeper"), null, [.. Common(bento.Manifest.Name), "--output", $"oci:{Scratch.Combine("out-b")}", "--output", $"docker-archive:{Scratch.Combine("image.tar")}"]);
        Assert.True(second.ExitCode == 0, second.ToString());
        Assert.Equal(first.LastStdoutLine, second.LastStdoutLine);
        Assert.Contains("0 layer(s) computed, 5 from cache, 0 B hashed", second.Stderr);

        var index = JsonNode.Parse(await File.ReadAllTextAsync(Scratch.Combine("out-b", "index.json")))!;
        var entry = index["manifests"]!.AsArray().Single()!;
        Assert.Equal(first.LastStdoutLine, (string)entry["digest"]!);
        Assert.Equal(bento.Manifest.Version, (string)entry["annotations"]![OciAnnotations.RefName]!); // the default ref
        Assert.True(File.Exists(Scratch.Combine("image.tar")));
    }

    [Fact]
    public async Task Source_date_epoch_sets_the_created_time()
    {
        var bento = await BentoAsync();
        var plain = await CliAsync([.. Common(bento.Tag), "--output", $"oci:{Scratch.Combine("plain")}"]);
        var stamped = await CliAsync(Scratch.CreateDirectory("cwd2"), new Dictionary<string, string?> { ["SOURCE_DATE_EPOCH"] = "1700000000" },
            [.. Common(bento.Tag), "--output", $"oci:{Scratch.Combine("stamped")}"]);
        Assert.True(plain.ExitCode == 0 && stamped.ExitCode == 0, plain + "\n" + stamped);
        Assert.NotEqual(plain.LastStdoutLine, stamped.LastStdoutLine);
        var manifest = await File.ReadAllBytesAsync(Scratch.Combine("stamped", "blobs", "sha256", OciDigest.Hex(stamped.LastStdoutLine)));
        Assert.Equal("2023-11-14T22:13:20Z", OciJson.Parse<ManifestDocument>(manifest, "m").Annotations![OciAnnotations.Created]);

        var bad = await CliAsync(Scratch.CreateDirectory("cwd3"), new Dictionary<string, string?> { ["SOURCE_DATE_EPOCH"] = "yesterday" },
            [.. Common(bento.Tag), "--output", $"oci:{Scratch.Combine("bad")}"]);
        AssertError(bad, 1, "SOURCE_DATE_EPOCH");
    }

    [Fact]
    public async Task Bad_input_fails_with_one_error_line()
    {
        var bento = await BentoAsync();
        var outDir = $"oci:{Scratch.Combine("o")}";
        AssertError(await CliAsync([.. Common("nosuch"), "--output", outDir]), 1, "not found");
        AssertError(await CliAsync([.. Common(bento.Tag), "--output", "tar:x"]), 2, "invalid output");
        AssertError(await CliAsync([.. Common(bento.Tag), "--output", "oci:"]), 2, "invalid output");
        AssertError(await CliAsync(Common(bento.Tag)), 2, "nothing to do");
        AssertError(await CliAsync([.. Common(bento.Tag), "--push"]), 2, "-t");
        AssertError(await CliAsync([.. Common(bento.Tag), "--output", outDir, "--platform", "linux/arm64"]), 1, "linux/amd64 only");
        AssertError(await CliAsync([.. Common(bento.Tag), "--output", outDir, "-t", "Not A Reference"]), 2, "invalid -t");

        var arm = await SyntheticImages.BaseLayoutAsync(Scratch.Combine("arm"), architecture: "arm64");
        AssertError(await CliAsync("containerize", bento.Tag, "--base-image", $"oci:{arm}:base", "--runtime", Runtime, "--output", outDir), 1, "linux/arm64, not linux/amd64");
        AssertError(await CliAsync("containerize", bento.Tag, "--base-image", $"oci:{Scratch.Combine("missing")}", "--runtime", Runtime, "--output", outDir), 1, "not an OCI image layout");
        Assert.False(Directory.Exists(Scratch.Combine("o")), "no failed run may leave an output behind");
    }

    [Fact]
    public async Task Load_without_a_docker_engine_says_so()
    {
        var bento = await BentoAsync();
        var r = await CliAsync(Scratch.CreateDirectory("cwd"), new Dictionary<string, string?> { ["DOCKER_HOST"] = $"unix://{Scratch.Combine("no-such.sock")}" },
            [.. Common(bento.Tag), "--load"]);
        AssertError(r, 1, "no Docker engine answers", "no-such.sock");
    }

    [Fact]
    public async Task Dockerfile_writes_a_build_context()
    {
        var bento = await BentoAsync();
        var r = await CliAsync([.. Common(bento.Tag), "--dockerfile", Scratch.Combine("ctx")]);
        Assert.True(r.ExitCode == 0, r.ToString());
        var dockerfile = await File.ReadAllTextAsync(Scratch.Combine("ctx", "Dockerfile"));
        Assert.Contains("ARG BASE_IMAGE=mcr.microsoft.com/dotnet/runtime-deps:10.0", dockerfile); // an oci: base cannot be a FROM
        Assert.Contains(r.LastStdoutLine[..15], r.Stdout);
    }
}
