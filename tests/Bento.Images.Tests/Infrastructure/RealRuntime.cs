using Bento.Images.Build;

namespace Bento.Images.Tests.Infrastructure;

/// <summary>
/// The real runtime for the end-to-end tests. Normally the CLI publishes it itself (cached by its inputs under
/// <see cref="CacheRoot"/>, shared by test runs on this machine); BENTO_TEST_RUNTIME may name an already published
/// runtime instead (passed as --runtime).
/// </summary>
public static class RealRuntime
{
    public static string CacheRoot => Path.Combine(Repo.MachineCache, "runtime-publish");

    public static string? Prepublished =>
        Environment.GetEnvironmentVariable("BENTO_TEST_RUNTIME") is { Length: > 0 } dir ? dir : null;

    /// <summary>Arguments and environment that make `bento containerize` use the real runtime.</summary>
    public static (string[] Args, Dictionary<string, string?> Env) ForCli() =>
        Prepublished is { } dir
            ? (["--runtime", dir], new Dictionary<string, string?>())
            : ([], new Dictionary<string, string?> { ["BENTO_RUNTIME_CACHE"] = CacheRoot });

    public static Task<string> PublishAsync() =>
        Prepublished is { } dir ? Task.FromResult(dir) : new RuntimePublisher(CacheRoot).GetAsync(Repo.Root, "linux-x64", default);
}
