namespace Bento.Images.Tests.Infrastructure;

/// <summary>
/// The machine's own tools these tests drive (skopeo, debootstrap, umoci, dockerd, ...): where they are, and running
/// one that must succeed. Running itself is <see cref="ProcessRunner"/>'s job.
/// </summary>
public static class HostTools
{
    /// <summary>Runs a command that must succeed.</summary>
    public static async Task<ProcessResult> CheckedAsync(string file, params string[] args)
    {
        var r = await ProcessRunner.RunAsync(file, args);
        Assert.True(r.ExitCode == 0, r.ToString());
        return r;
    }

    /// <summary>The tool's path, or a failure saying which apt package provides it (tests/run.sh installs them).</summary>
    public static string Require(string name, string package)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Concat(["/usr/sbin", "/sbin"]))
        {
            var candidate = Path.Combine(dir, name);
            if (File.Exists(candidate)) return candidate;
        }
        throw new Xunit.Sdk.XunitException($"{name} is not installed; these tests need it: apt-get install {package} (tests/run.sh installs it)");
    }
}
