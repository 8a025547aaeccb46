namespace Bento.EndToEnd.Tests.Infrastructure;

/// <summary>A tmpfs mounted on a test's directory (the tests run as root); unmounted on dispose.</summary>
public sealed class Tmpfs : IDisposable
{
    private Tmpfs(string directory) => Directory = directory;

    public string Directory { get; }

    public static async Task<Tmpfs> MountAsync(string directory, string size)
    {
        System.IO.Directory.CreateDirectory(directory);
        var result = await ProcessRunner.RunAsync("mount", ["-t", "tmpfs", "-o", $"size={size},mode=0755", "tmpfs", directory], "/", timeout: TimeSpan.FromSeconds(30));
        if (result.ExitCode != 0)
            throw new InvalidOperationException($"this test mounts a tmpfs and must run as root (or with CAP_SYS_ADMIN):\n{result}");
        return new Tmpfs(directory);
    }

    public async Task RemountReadOnlyAsync()
    {
        var result = await ProcessRunner.RunAsync("mount", ["-o", "remount,ro", Directory], "/", timeout: TimeSpan.FromSeconds(30));
        if (result.ExitCode != 0) throw new InvalidOperationException($"could not remount read-only:\n{result}");
    }

    public void Dispose()
    {
        var result = ProcessRunner.RunAsync("umount", [Directory], "/", timeout: TimeSpan.FromSeconds(30)).GetAwaiter().GetResult();
        if (result.ExitCode != 0)
            ProcessRunner.RunAsync("umount", ["-l", Directory], "/", timeout: TimeSpan.FromSeconds(30)).GetAwaiter().GetResult();
    }
}
