using System.Diagnostics;
using Bento.Core.Build;
using Bento.Core.IO;
using Bento.Core.Store;

namespace Bento.Core.Tests;

/// <summary>
/// The store under faults and concurrency: what a killed command leaves is reported by verify and removed by the next
/// command, never while its owner is alive; builds and deletes of the same bento serialise; concurrent builds keep
/// each other's hash-cache entries.
/// </summary>
public class StoreIntegrityTests : StoreTestBase
{
    /// <summary>The pid of a process that has exited.</summary>
    private static int DeadPid()
    {
        using var process = Process.Start("true")!;
        process.WaitForExit();
        return process.Id;
    }

    private static string Hex32() => Guid.NewGuid().ToString("N");

    [Fact]
    public async Task What_a_killed_command_left_is_reported_and_the_next_command_removes_it_leaving_the_bento_intact()
    {
        var dir = await ModelFixture.BuildDirectoryAsync(Temp);
        var built = await BuildAsync(dir);
        var dead = DeadPid();
        // A build killed while copying a weight across file systems: its work directory with a partial copy...
        var work = Directory.CreateDirectory(Path.Combine(Store.TempDirectory, $"{dead}-build-{Hex32()}")).FullName;
        File.WriteAllText(Path.Combine(work, StoreLeftovers.OwnerFile), "");
        HostileFiles.MakeSparse(Path.Combine(work, "blob-" + new string('1', 64)), 144L << 20);
        // ...and the blobs it had already moved into the store.
        var orphan = Store.BlobPath(new string('2', 64));
        File.WriteAllText(orphan, "stored before the kill");
        // Atomic writes cut short, and a bento directory that never got its manifest.
        File.WriteAllText(Path.Combine(Store.BentosDirectory, "fixture", $".latest.tmp-{dead}-{Hex32()}"), "0123");
        File.WriteAllText(Path.Combine(Store.CacheDirectory, $"hashes.json.tmp-{dead}-{Hex32()}"), "{");
        Directory.CreateDirectory(Path.Combine(Store.BentosDirectory, "fixture", "0000000000000000", "model"));

        var found = StoreLeftovers.Find(Store);

        Assert.Equal(
            [
                (LeftoverKind.WorkDirectory, Path.GetRelativePath(Store.Root, work)),
                (LeftoverKind.PartialFile, Path.GetRelativePath(Store.Root, Directory.EnumerateFiles(Store.BentosDirectory + "/fixture", "*.tmp-*").Single())),
                (LeftoverKind.PartialFile, Path.GetRelativePath(Store.Root, Directory.EnumerateFiles(Store.CacheDirectory, "*.tmp-*").Single())),
                (LeftoverKind.OrphanBlob, $"blobs/sha256/{new string('2', 64)}"),
                (LeftoverKind.Debris, "bentos/fixture/0000000000000000"),
            ],
            found.Select(l => (l.Kind, l.Path)).OrderBy(x => x.Kind).ThenBy(x => x.Path, StringComparer.Ordinal));
        Assert.Equal(144L << 20, found.Single(l => l.Kind == LeftoverKind.WorkDirectory).Bytes);
        Assert.Equal($"{Path.GetRelativePath(Store.Root, work)}: work directory of an interrupted command (144 MiB)", found.Single(l => l.Kind == LeftoverKind.WorkDirectory).ToString());
        Assert.Empty(await new StoreVerifier(Store).VerifyAsync(Store.List())); // the bentos themselves are fine

        // The next command (here a build that has nothing to do) cleans up under the store lock.
        var again = await BuildAsync(dir);
        Assert.False(again.Created);
        Assert.Empty(StoreLeftovers.Find(Store));
        Assert.Empty(Directory.EnumerateFileSystemEntries(Store.TempDirectory));
        Assert.Empty(await new StoreVerifier(Store).VerifyAsync(Store.List()));
        Assert.Equal(built.Manifest.Version, Assert.Single(Store.List()).Manifest.Version);
    }

    [Fact]
    public async Task Work_of_a_live_process_is_never_a_leftover_whatever_its_pid_says()
    {
        Store.EnsureCreated();
        var mine = Store.CreateTempDirectory("import");
        // Another process (here util-linux flock, which uses the same flock(2) lock) owns a directory whose name
        // carries a pid that is gone: a pid from another pid namespace, or a reused one, must not matter.
        var theirs = Directory.CreateDirectory(Path.Combine(Store.TempDirectory, $"{DeadPid()}-import-{Hex32()}")).FullName;
        var owner = Path.Combine(theirs, StoreLeftovers.OwnerFile);
        File.WriteAllText(owner, "");
        using var holder = Process.Start(new ProcessStartInfo("flock", ["--no-fork", "-x", owner, "sleep", "60"]) { UseShellExecute = false })!;
        try
        {
            await WaitUntilAsync(() => !CanLock(owner));
            using (await Store.LockAsync())
                Assert.DoesNotContain(Store.RemoveLeftovers(), l => l.Path.Contains("import"));
            Assert.True(Directory.Exists(mine));
            Assert.True(Directory.Exists(theirs));
        }
        finally
        {
            holder.Kill();
            await holder.WaitForExitAsync();
        }

        // Its owner gone, it is a leftover; ours stays ours until we delete it.
        Assert.Equal([Path.GetRelativePath(Store.Root, theirs)], StoreLeftovers.Find(Store).Select(l => l.Path));
        using (await Store.LockAsync()) Store.RemoveLeftovers();
        Assert.False(Directory.Exists(theirs));
        Assert.True(Directory.Exists(mine));
        BentoStore.TryDeleteDirectory(mine);
        Assert.Empty(StoreLeftovers.Find(Store));
    }

    private static bool CanLock(string path)
    {
        try
        {
            using var probe = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.None);
            return true;
        }
        catch (IOException) { return false; }
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), "timed out");
            await Task.Delay(20);
        }
    }

    [Fact]
    public async Task Concurrent_saves_of_the_hash_cache_keep_every_entry()
    {
        Store.EnsureCreated();
        var files = Enumerable.Range(0, 8 * 40).Select(i => Temp.Write($"files/{i}", i.ToString())).ToList();
        var sha = new string('a', 64);
        // Eight builds load the cache at the same time, each learns forty files, and they save at once.
        var caches = Enumerable.Range(0, 8).Select(_ => Store.LoadHashCache()).ToList();
        for (var c = 0; c < caches.Count; c++)
            foreach (var file in files.Skip(c * 40).Take(40))
                caches[c].Remember(file, Posix.Identify(file), sha);
        await Task.WhenAll(caches.Select(cache => Task.Run(() => cache.SaveAsync())));

        var reloaded = Store.LoadHashCache();
        Assert.All(files, file => Assert.Equal(sha, reloaded.Lookup(file, Posix.Identify(file))));
    }

    /// <summary>
    /// A build and a delete of the same bento, many times over, with a reader listing the store throughout: each
    /// round ends in one of the two orders (the bento there and intact, or gone with its blobs), no command fails
    /// other than a delete finding nothing yet, and the reader never trips over a bento disappearing.
    /// </summary>
    [Fact]
    public async Task Builds_and_deletes_of_the_same_bento_serialise()
    {
        var dir = await ModelFixture.BuildDirectoryAsync(Temp);
        var bentofile = Path.Combine(dir, "bentofile.yaml");
        using var stop = new CancellationTokenSource();
        var reader = Task.Run(async () =>
        {
            var store = new BentoStore(Store.Root);
            while (!stop.IsCancellationRequested)
            {
                foreach (var bento in store.List()) Assert.Equal("fixture", bento.Manifest.Name);
                try { store.Resolve(BentoTag.Parse("fixture")); }
                catch (BentoException e) when (e.Message.StartsWith("bento 'fixture' not found", StringComparison.Ordinal)) { }
                await Task.Yield();
            }
        });
        for (var round = 0; round < 12; round++)
        {
            var build = Task.Run(() => new BentoBuilder(new BentoStore(Store.Root)).BuildAsync(bentofile));
            var delete = Task.Run(async () =>
            {
                await Task.Delay(round % 4 * 5);
                var store = new BentoStore(Store.Root);
                try { return await store.DeleteSelectedAsync(BentoSelector.ForDelete(store, [BentoTag.Parse("fixture")])); }
                catch (BentoException e) when (e.Message.StartsWith("bento 'fixture' not found", StringComparison.Ordinal)) { return []; }
            });
            await Task.WhenAll(build, delete);

            var left = Store.List().ToList();
            if (left.Count == 1) Assert.Empty(await new StoreVerifier(Store).VerifyAsync(left));
            else Assert.Empty(Directory.EnumerateFiles(Store.BlobsDirectory));
            Assert.Empty(StoreLeftovers.Find(Store));
        }
        await stop.CancelAsync();
        await reader;
    }
}
