using Bento.EndToEnd.Tests.Infrastructure;

namespace Bento.EndToEnd.Tests;

/// <summary>
/// `bento serve` on a host whose libstdc++ predates GCC 13 (Debian 12, Ubuntu 22.04) must fail at once and say why
/// and what to do, instead of TorchSharp's misleading "no reference to libtorch" error. (On a newer host the runtime
/// tests cover serving; this check then has nothing to assert.)
/// </summary>
[Trait("Category", "Slow")]
public class ServeOnHostTests : EndToEndTest
{
    private static readonly SemaphoreSlim RuntimeBuild = new(1, 1);

    /// <summary>The launcher builds the runtime on the first `serve`; do it once up front so its progress line is not in the way.</summary>
    private async Task EnsureRuntimeBuiltAsync()
    {
        await RuntimeBuild.WaitAsync();
        try { Cli.AssertSuccess(await BentoCli.RunAsync(["serve", "--help"], new CliOptions { Home = Home, WorkingDirectory = Work, Timeout = TimeSpan.FromMinutes(8) })); }
        finally { RuntimeBuild.Release(); }
    }

    private static bool HostHasGcc13LibStdCxx() =>
        new[] { "/usr/lib/x86_64-linux-gnu/libstdc++.so.6", "/usr/lib64/libstdc++.so.6" }
            .Where(File.Exists)
            .Any(p => File.ReadAllBytes(p).AsSpan().IndexOf("GLIBCXX_3.4.32"u8) >= 0);

    [Fact]
    public async Task Serve_on_an_old_libstdcxx_fails_fast_with_advice()
    {
        if (HostHasGcc13LibStdCxx()) return;
        var tag = await BuildAsync(CopyExample(), "tiny-llama");
        await EnsureRuntimeBuiltAsync();
        var result = await Bento("serve", tag, "--port", "3997");
        Cli.AssertError(result, 1, "GLIBCXX_3.4.32", "Debian 13", "scripts/trixie run");
        Cli.AssertNoStackTrace(result);
    }

    [Fact]
    public async Task Serve_rejects_an_unknown_tag_before_starting_anything()
    {
        await EnsureRuntimeBuiltAsync();
        var result = await Bento("serve", "nosuch");
        Cli.AssertError(result, 1, "not found");
    }
}
