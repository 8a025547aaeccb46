using Bento.Core.Store;

namespace Bento.Core.Tests;

public class StoreOperationsTests : StoreTestBase
{
    [Fact]
    public async Task Delete_removes_only_blobs_no_other_bento_uses()
    {
        var dir = await ModelFixture.BuildDirectoryAsync(Temp);
        Temp.Write("project/README.md", "v1");
        var first = await BuildAsync(dir);
        Temp.Write("project/README.md", "v2");
        var second = await BuildAsync(dir);
        var blobsBefore = Directory.EnumerateFiles(Store.BlobsDirectory).Count();

        using (await Store.LockAsync())
        {
            var removed = await Store.DeleteAsync(first.Bento);
            var readmeV1 = first.Manifest.Files.Single().Sha256;
            Assert.Equal([readmeV1], removed);
        }
        Assert.Equal(blobsBefore - 1, Directory.EnumerateFiles(Store.BlobsDirectory).Count());
        Assert.False(Directory.Exists(first.Bento.Directory));
        Assert.Empty(await new StoreVerifier(Store).VerifyAsync(Store.List()));
        Assert.Equal(second.Manifest.Version, Store.Resolve(BentoTag.Parse("fixture")).Manifest.Version);

        using (await Store.LockAsync()) await Store.DeleteAsync(Store.Resolve(BentoTag.Parse("fixture")));
        Assert.Empty(Directory.EnumerateFiles(Store.BlobsDirectory));
        Assert.False(Directory.Exists(Path.Combine(Store.BentosDirectory, "fixture")));
        // The source model survives: blobs were links to it.
        Assert.True(File.Exists(Path.Combine(dir, "model.safetensors")));
    }

    [Fact]
    public async Task Deleting_latest_repoints_latest_at_the_newest_remaining()
    {
        var dir = await ModelFixture.BuildDirectoryAsync(Temp);
        var first = await BuildAsync(dir);
        File.WriteAllText(Path.Combine(dir, "bentofile.yaml"), "name: fixture\ndescription: two\n");
        var second = await BuildAsync(dir);
        using (await Store.LockAsync()) await Store.DeleteAsync(second.Bento);
        Assert.Equal(first.Manifest.Version, Store.ReadLatest("fixture"));
    }

    [Fact]
    public async Task Verify_names_a_corrupt_file()
    {
        var dir = await ModelFixture.BuildDirectoryAsync(Temp);
        var result = await BuildAsync(dir);
        Assert.Empty(await new StoreVerifier(Store).VerifyAsync(Store.List()));

        // Flip a byte in place (as an in-place editor of the source file would: the blob is the same inode).
        var path = Path.Combine(result.Bento.Directory, "model", "model.safetensors");
        using (var f = new FileStream(path, FileMode.Open, FileAccess.ReadWrite))
        {
            f.Seek(-1, SeekOrigin.End);
            var b = f.ReadByte();
            f.Seek(-1, SeekOrigin.End);
            f.WriteByte((byte)(b ^ 0xFF));
        }
        var problems = await new StoreVerifier(Store).VerifyAsync(Store.List());
        Assert.Contains(problems, p => p.Path == "model/model.safetensors" && p.Problem.Contains("sha256"));
        Assert.All(problems, p => Assert.Equal(result.Manifest.Tag, p.Tag));
    }

    [Fact]
    public async Task Verify_detects_an_altered_manifest()
    {
        var dir = await ModelFixture.BuildDirectoryAsync(Temp);
        var result = await BuildAsync(dir);
        var manifestPath = Path.Combine(result.Bento.Directory, "bento.yaml");
        File.WriteAllText(manifestPath, File.ReadAllText(manifestPath).Replace("overridable: true", "overridable: false"));
        var problems = await new StoreVerifier(Store).VerifyAsync(Store.List());
        Assert.Contains(problems, p => p.Path == "bento.yaml" && p.Problem.Contains("manifest altered"));
    }

    [Fact]
    public async Task Garbage_collection_removes_blobs_left_by_a_killed_build()
    {
        var dir = await ModelFixture.BuildDirectoryAsync(Temp);
        await BuildAsync(dir);
        File.WriteAllText(Store.BlobPath(new string('a', 64)), "stray");
        using (await Store.LockAsync()) Assert.Equal([new string('a', 64)], Store.CollectGarbage());
        Assert.Empty(await new StoreVerifier(Store).VerifyAsync(Store.List()));
    }

    [Fact]
    public async Task Stale_temp_directories_of_dead_processes_are_removed()
    {
        Store.EnsureCreated();
        var stale = Path.Combine(Store.TempDirectory, "999999999-build-x");
        Directory.CreateDirectory(stale);
        var mine = Store.CreateTempDirectory("build");
        using (await Store.LockAsync()) Store.RemoveLeftovers();
        Assert.False(Directory.Exists(stale));
        Assert.True(Directory.Exists(mine));
    }
}
