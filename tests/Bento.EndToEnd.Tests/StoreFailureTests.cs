using System.Text.RegularExpressions;
using Bento.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Bento.EndToEnd.Tests;

/// <summary>
/// Builds into a store that cannot take them — full disk, no write permission, read-only file system — fail with one
/// clear line and leave the store as it was. These tests need root (tmpfs mounts, runuser).
/// </summary>
[Trait("Category", "Slow")]
public sealed class StoreFailureTests : EndToEndTest
{
    private readonly ITestOutputHelper _output;

    public StoreFailureTests(ITestOutputHelper output) => _output = output;

    /// <summary>Files in the store other than the lock and the hash cache (which a failed build may write).</summary>
    private static string[] Leftovers(string home) =>
        Directory.EnumerateFiles(home, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(home, f))
            .Where(r => r != ".lock" && !r.StartsWith("cache/", StringComparison.Ordinal))
            .ToArray();

    [Fact]
    public async Task Build_IntoAFullDisk_FailsWithNoSpaceLeft_AndLeavesNothingBehind()
    {
        var model = CopyExample();
        Assert.True(Models.FolderSize(model) > 1 << 20, "the model must be bigger than the 1 MiB store");

        using var tmpfs = await Tmpfs.MountAsync(Home, "1m");
        var r = await Bento("build", model);

        Cli.AssertError(r, 1, "no space left");
        Assert.Empty(r.StdoutLines);
        Assert.Empty(Store.BentoDirectories());
        Assert.Empty(Store.Blobs());
        Assert.Empty(Store.TmpEntries());
        Assert.Empty(Leftovers(Home));
        // Not even an empty bentos/NAME directory.
        Assert.True(!Directory.Exists(Store.BentosDirectory) || Directory.GetFileSystemEntries(Store.BentosDirectory).Length == 0,
            string.Join(", ", Directory.GetFileSystemEntries(Store.BentosDirectory)));
    }

    [Fact]
    public async Task Build_AsAUserWhoCannotWriteTheStore_FailsWithPermissionDenied()
    {
        var userHome = Temp.CreateDirectory("nobody-home");
        File.SetUnixFileMode(userHome, (UnixFileMode)0b111_111_111);
        var options = new CliOptions { Home = Home, WorkingDirectory = Work, RunAsUser = "nobody", UserHome = userHome, Timeout = TimeSpan.FromMinutes(1) };

        var preflight = await BentoCli.RunAsync(["--version"], options);
        if (preflight.TimedOut || preflight.ExitCode != 0)
        {
            // Something outside the product stops 'nobody' from running the CLI at all (no runuser, no access to
            // the repository or dotnet): check the same contract on a read-only store instead.
            _output.WriteLine($"cannot run the CLI as nobody; checking a read-only store instead:\n{preflight}");
            await BuildIntoReadOnlyStoreAsync();
            return;
        }

        Directory.CreateDirectory(Home);
        File.SetUnixFileMode(Home, (UnixFileMode)0b111_101_101); // root-owned 0755
        var model = CopyExample();
        File.SetUnixFileMode(model, (UnixFileMode)0b111_101_101);

        var r = await BentoCli.RunAsync(["build", model], options);
        _output.WriteLine(r.ToString());

        // A "could not save the hash cache" warning may come first; the error itself is one line.
        var line = Cli.AssertErrorAfterWarnings(r, 1, Home);
        Assert.True(Regex.IsMatch(line, "(?i)permission denied|access to the path .* is denied"), $"the error should say permission was denied:\n{r}");
        Assert.Contains("permission", line, StringComparison.OrdinalIgnoreCase);
        Assert.Empty(Directory.GetFileSystemEntries(Home));
    }

    [Fact]
    public async Task Build_IntoAReadOnlyStore_FailsWithReadOnlyFileSystem_AndLeavesItIntact() =>
        await BuildIntoReadOnlyStoreAsync();

    private async Task BuildIntoReadOnlyStoreAsync()
    {
        var model = CopyExample();
        using var tmpfs = await Tmpfs.MountAsync(Home, "64m");
        var tag = await BuildAsync(model, "tiny-llama");
        await tmpfs.RemountReadOnlyAsync();
        var snapshot = Store.Snapshot();

        // A different bento (one label more), so the build has to write.
        var bentofile = Path.Combine(model, "bentofile.yaml");
        File.WriteAllText(bentofile, File.ReadAllText(bentofile).Replace("\nlabels:\n", "\nlabels:\n  variant: read-only\n", StringComparison.Ordinal));
        var r = await BentoCli.RunAsync(["build", model], new CliOptions { Home = Home, WorkingDirectory = Work, Timeout = TimeSpan.FromSeconds(15) });

        Assert.False(r.TimedOut, $"a build into a read-only store should fail at once, not wait:\n{r}");
        Cli.AssertErrorAfterWarnings(r, 1, "read-only file system");
        Assert.Equal(snapshot, Store.Snapshot());
        var list = await JsonAsync(null, "list", "-o", "json");
        Assert.Equal(tag, (string?)Assert.Single(list.AsArray())!["tag"]);
        Cli.AssertSuccess(await Bento("verify"));
    }
}
