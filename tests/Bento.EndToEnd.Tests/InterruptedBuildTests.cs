using System.Diagnostics;
using System.Text.RegularExpressions;
using Bento.EndToEnd.Tests.Infrastructure;

namespace Bento.EndToEnd.Tests;

/// <summary>
/// A build SIGKILLed while it copies a large file into a store on another file system (a tmpfs: hard links are
/// impossible there): what it leaves — the work directory with the partial copy, and the blobs it had already stored —
/// is reported by <c>bento verify</c> (which used to say OK), and removed by <c>bento verify --clean</c> and by the
/// next build. Needs root (tmpfs mount).
/// </summary>
[Trait("Category", "Slow")]
public sealed class InterruptedBuildTests : EndToEndTest
{
    [Fact]
    public async Task A_build_killed_during_a_cross_filesystem_copy_leaves_leftovers_that_verify_reports_and_the_next_commands_remove()
    {
        var project = CopyExample("project");
        File.WriteAllText(Path.Combine(project, "bentofile.yaml"), "name: killed\ninclude: ['*.dat']\n");
        // Sparse: costs no disk to create, but the copy into the tmpfs writes every byte, which takes a moment.
        using (var big = new FileStream(Path.Combine(project, "big.dat"), FileMode.Create)) big.SetLength(768L << 20);
        using var tmpfs = await Tmpfs.MountAsync(Home, "2g");

        var killed = await KillDuringCopyAsync(project);

        var verify = await Bento("verify");
        Assert.Equal(1, verify.ExitCode);
        Assert.Contains(verify.StdoutLines, l => Regex.IsMatch(l, $@"^LEFTOVER tmp/{killed}-build-[0-9a-f]{{32}}: work directory of an interrupted command \(\d+(\.\d)? MiB\)$"));
        Assert.Contains(verify.StdoutLines, l => Regex.IsMatch(l, @"^LEFTOVER blobs/sha256/[0-9a-f]{64}: blob no bento uses"));
        Assert.Contains("'bento verify --clean' removes them, and so does the next build, import or delete", verify.Stderr);
        Assert.DoesNotContain(verify.StdoutLines, l => l.StartsWith("OK", StringComparison.Ordinal));

        var clean = await Bento("verify", "--clean");
        Cli.AssertSuccess(clean);
        Assert.Contains("removed tmp/", clean.Stderr);
        Assert.Equal("OK 0 bento(s) verified", clean.LastStdoutLine);
        Assert.Empty(Store.TmpEntries());
        Assert.Empty(Store.Blobs());

        // Killed again; this time the next build cleans up by itself and builds.
        await KillDuringCopyAsync(project);
        Assert.NotEmpty(Store.TmpEntries());
        await BuildAsync(project, "killed");
        var after = await Bento("verify");
        Cli.AssertSuccess(after);
        Assert.Equal("OK 1 bento(s) verified", after.LastStdoutLine);
        Assert.Empty(Store.TmpEntries());
    }

    /// <summary>Starts a build and SIGKILLs it once its partial copy of big.dat is in the store's work area; returns its pid.</summary>
    private async Task<int> KillDuringCopyAsync(string project)
    {
        for (var attempt = 0; attempt < 3; attempt++)
        {
            var build = Bento("build", project);
            var clock = Stopwatch.StartNew();
            while (!build.IsCompleted && clock.Elapsed < TimeSpan.FromMinutes(2))
            {
                var partial = PartialBigCopy(); // big.dat's, after the model's blobs are stored
                if (partial is not null)
                {
                    var pid = int.Parse(Path.GetFileName(Path.GetDirectoryName(partial)!).Split('-')[0]);
                    Process.GetProcessById(pid).Kill();
                    var result = await build;
                    Assert.NotEqual(0, result.ExitCode);
                    return pid;
                }
                await Task.Delay(2);
            }
            // The copy finished before it was caught: delete the bento and try again.
            Cli.AssertSuccess(await build);
            Cli.AssertSuccess(await Bento("delete", "killed", "-y"));
        }
        throw new Xunit.Sdk.XunitException("could not catch the build in the middle of its copy in three tries");
    }

    /// <summary>A work-area blob over 16 MiB, or null. The build renames and removes its work files while this looks,
    /// so a file (or folder) that is gone by the time it is measured counts as not there.</summary>
    private string? PartialBigCopy()
    {
        try
        {
            return Directory.Exists(Store.TmpDirectory)
                ? Directory.EnumerateFiles(Store.TmpDirectory, "blob-*", SearchOption.AllDirectories).FirstOrDefault(f => new FileInfo(f).Length > 16 << 20)
                : null;
        }
        catch (IOException) { return null; } // FileNotFoundException, DirectoryNotFoundException
    }
}
