using Bento.Images.Tests.Infrastructure;
using Bento.Images.Tests.Registry;

namespace Bento.Images.Tests.Cli;

/// <summary>
/// <c>bento push</c> and <c>bento pull</c> as a user runs them (./bento, a real docker-registry): the digest and the
/// tag are the last stdout lines, a second push moves nothing but the manifest, the pulled bento verifies, and bad
/// input fails with one clear line.
/// </summary>
[Trait("Category", "Slow")]
public sealed class PushPullCliTests : ImageTestBase
{
    [Fact]
    public async Task Push_then_pull_into_another_store_gives_the_same_bento()
    {
        using var registry = new RegistryServer();
        var bento = await BentoAsync();
        var cwd = Scratch.CreateDirectory("cwd");
        var env = new Dictionary<string, string?> { ["BENTO_HOME"] = Store.Root, ["SOURCE_DATE_EPOCH"] = null };
        var push = await ProcessRunner.RunAsync(Repo.Launcher, ["push", bento.Tag, $"{registry.Host}/models/alpha", "--insecure"], cwd, env, TimeSpan.FromMinutes(10));
        Assert.True(push.ExitCode == 0, push.ToString());
        Assert.Matches("^sha256:[0-9a-f]{64}$", push.LastStdoutLine);
        Assert.Contains($"pushed {registry.Host}/models/alpha:{bento.Manifest.Version}", push.Stderr); // the tag defaults to the version
        Assert.Contains("model/model.safetensors", push.Stderr); // a line per file: stderr is not a terminal

        var again = await ProcessRunner.RunAsync(Repo.Launcher, ["push", bento.Tag, $"{registry.Host}/models/alpha", "--insecure"], cwd, env, TimeSpan.FromMinutes(10));
        Assert.True(again.ExitCode == 0, again.ToString());
        Assert.Equal(push.LastStdoutLine, again.LastStdoutLine);
        Assert.Matches(@": 0 blob\(s\) uploaded, \d+ already there", again.Stderr);

        var otherEnv = new Dictionary<string, string?> { ["BENTO_HOME"] = Scratch.Combine("other-home"), ["SOURCE_DATE_EPOCH"] = null };
        var pull = await ProcessRunner.RunAsync(Repo.Launcher, ["pull", $"{registry.Host}/models/alpha:{bento.Manifest.Version}", "--insecure"], cwd, otherEnv, TimeSpan.FromMinutes(10));
        Assert.True(pull.ExitCode == 0, pull.ToString());
        Assert.Equal(bento.Tag, pull.LastStdoutLine);
        var verify = await ProcessRunner.RunAsync(Repo.Launcher, ["verify"], cwd, otherEnv, TimeSpan.FromMinutes(5));
        Assert.True(verify.ExitCode == 0, verify.ToString());

        var missing = await ProcessRunner.RunAsync(Repo.Launcher, ["pull", $"{registry.Host}/models/nothing:1", "--insecure"], cwd, otherEnv, TimeSpan.FromMinutes(5));
        Assert.Equal(1, missing.ExitCode);
        Assert.Contains("error: ", missing.Stderr);
        Assert.Contains("not found", missing.Stderr);
        var bad = await ProcessRunner.RunAsync(Repo.Launcher, ["push", bento.Tag, "Not A Reference"], cwd, env, TimeSpan.FromMinutes(5));
        Assert.Equal(2, bad.ExitCode);
        Assert.Contains("invalid REF", bad.Stderr);
    }
}
