using Bento.Core.Archive;
using Bento.Core.Build;
using Bento.Core.IO;
using Bento.Core.Spec;
using Bento.Core.Store;

namespace Bento.Core.Tests;

/// <summary>
/// Symbolic links in the folders a build is given: resolved to their targets, which are hard-linked or copied into the
/// store (never a link in the store, which would dangle or point outside it); a Hugging Face cache snapshot builds;
/// a link leaving its folder is refused, naming it, unless the builder is told to follow it.
/// </summary>
public class SymlinkTests : StoreTestBase
{
    /// <summary>
    /// A Hugging Face cache repository as huggingface_hub lays it out: every file of snapshots/REV/ is a relative link
    /// ../../blobs/ETAG. Returns the snapshot folder.
    /// </summary>
    private async Task<string> HuggingFaceCacheAsync(string hub)
    {
        var model = await ModelFixture.CopyToAsync(Temp.Combine("download"));
        var repository = Path.Combine(hub, "models--org--tiny");
        var blobs = Directory.CreateDirectory(Path.Combine(repository, "blobs")).FullName;
        var snapshot = Directory.CreateDirectory(Path.Combine(repository, "snapshots", "0123abcd")).FullName;
        foreach (var file in Directory.EnumerateFiles(model))
        {
            var etag = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(file)))[..40];
            File.Move(file, Path.Combine(blobs, etag));
            File.CreateSymbolicLink(Path.Combine(snapshot, Path.GetFileName(file)), $"../../blobs/{etag}");
        }
        Directory.CreateDirectory(Path.Combine(repository, "refs"));
        File.WriteAllText(Path.Combine(repository, "refs", "main"), "0123abcd");
        return snapshot;
    }

    private IReadOnlyList<string> LinksInStore() =>
        Directory.EnumerateFileSystemEntries(Store.Root, "*", SearchOption.AllDirectories).Where(Posix.IsSymbolicLink).ToList();

    private async Task AssertVerifiesAndExportsAsync(StoredBento bento)
    {
        Assert.Empty(await new StoreVerifier(Store).VerifyAsync([bento]));
        var archive = Temp.Combine("out.bento");
        await BentoArchive.ExportToFileAsync(bento, Store, archive);
        var other = new BentoStore(Temp.Combine("other-store"));
        Assert.True((await BentoArchive.ImportAsync(other, archive)).Created);
    }

    [Fact]
    public async Task A_hugging_face_cache_snapshot_builds_with_its_blobs_linked_into_the_store_not_its_links()
    {
        var hub = Temp.CreateDirectory("cache", "huggingface", "hub");
        var snapshot = await HuggingFaceCacheAsync(hub);
        var project = Temp.CreateDirectory("project");
        File.WriteAllText(Path.Combine(project, "bentofile.yaml"), $"name: from-cache\nmodel: {snapshot}\n");

        var result = await BuildAsync(project);

        Assert.True(result.Created);
        Assert.Empty(LinksInStore());
        var weights = result.Manifest.Model.Files.Single(f => f.Path == "model.safetensors");
        var cacheBlob = Posix.Identify(File.ResolveLinkTarget(Path.Combine(snapshot, "model.safetensors"), true)!.FullName);
        Assert.Equal(cacheBlob.Inode, Posix.Identify(Store.BlobPath(weights.Sha256)).Inode); // hard-linked, not copied
        Assert.Equal(IngestMethod.HardLink, Assert.Single(result.Ingest, kv => kv.Value > 0).Key);

        // The store owns its bytes: removing the whole cache (huggingface-cli delete-cache) breaks nothing.
        Directory.Delete(hub, recursive: true);
        await AssertVerifiesAndExportsAsync(result.Bento);
    }

    [Fact]
    public async Task A_model_folder_reached_through_a_link_and_links_between_its_own_files_need_no_flag()
    {
        var real = await ModelFixture.CopyToAsync(Temp.Combine("real-model"));
        File.Move(Path.Combine(real, "tokenizer.json"), Path.Combine(real, "tokenizer-v2.json"));
        File.CreateSymbolicLink(Path.Combine(real, "tokenizer.json"), "tokenizer-v2.json");
        var project = Temp.CreateDirectory("project");
        Directory.CreateSymbolicLink(Path.Combine(project, "weights"), real);
        File.WriteAllText(Path.Combine(project, "bentofile.yaml"), "name: linked\nmodel: weights\ninclude: ['*.md']\n");

        var result = await BuildAsync(project);

        Assert.Contains(result.Manifest.Model.Files, f => f.Path == "tokenizer.json");
        Assert.Empty(LinksInStore());
        await AssertVerifiesAndExportsAsync(result.Bento);
    }

    [Theory]
    [InlineData("name: fixture\n")]
    [InlineData("name: fixture\nmodel: {path: ., quantize: int8}\n")] // the quantizer reads through links too
    public async Task A_model_file_linking_outside_the_model_folder_is_refused_naming_it_and_stores_nothing(string bentofile)
    {
        var dir = await ModelFixture.BuildDirectoryAsync(Temp, bentofile);
        var outside = Temp.Combine("elsewhere.safetensors");
        File.Move(Path.Combine(dir, "model.safetensors"), outside);
        File.CreateSymbolicLink(Path.Combine(dir, "model.safetensors"), outside);

        var e = await Assert.ThrowsAsync<BentoException>(() => BuildAsync(dir));

        Assert.Equal($"{BentofileParser.DisplayPath(Path.Combine(dir, "model.safetensors"))}: symbolic link to {outside}, which is outside the model folder " +
                     $"{BentofileParser.DisplayPath(dir)}; copy the file into the folder, or build with --follow-external-symlinks to store the file it points to", e.Message);
        Assert.Empty(StoreContents());
    }

    /// <summary>
    /// With the flag the target is stored as a hard link (a new name for the same inode), so deleting the original
    /// (what the absolute link pointed at) leaves verify and export intact.
    /// </summary>
    [Fact]
    public async Task With_the_flag_an_absolute_link_is_stored_as_its_target_and_survives_the_original_being_deleted()
    {
        var dir = await ModelFixture.BuildDirectoryAsync(Temp);
        var outside = Temp.Combine("elsewhere", "model.safetensors");
        Directory.CreateDirectory(Path.GetDirectoryName(outside)!);
        File.Move(Path.Combine(dir, "model.safetensors"), outside);
        File.CreateSymbolicLink(Path.Combine(dir, "model.safetensors"), outside);

        var result = await new BentoBuilder(Store) { FollowExternalSymlinks = true }.BuildAsync(Path.Combine(dir, "bentofile.yaml"));

        Assert.Empty(LinksInStore());
        File.Delete(outside);
        await AssertVerifiesAndExportsAsync(result.Bento);
    }

    [Fact]
    public async Task A_build_folder_file_linking_outside_is_refused_and_packed_only_with_the_flag()
    {
        var dir = await ModelFixture.BuildDirectoryAsync(Temp);
        var secret = Temp.Write("home/.ssh/id_ed25519", "PRIVATE KEY");
        File.CreateSymbolicLink(Path.Combine(dir, "notes.txt"), secret);

        var e = await Assert.ThrowsAsync<BentoException>(() => BuildAsync(dir));
        Assert.StartsWith($"{BentofileParser.DisplayPath(Path.Combine(dir, "notes.txt"))}: symbolic link to {secret}, which is outside the build folder ", e.Message);
        Assert.Empty(StoreContents());

        var result = await new BentoBuilder(Store) { FollowExternalSymlinks = true }.BuildAsync(Path.Combine(dir, "bentofile.yaml"));
        Assert.Equal("PRIVATE KEY", File.ReadAllText(Path.Combine(result.Bento.Directory, "src", "notes.txt")));
        Assert.Empty(LinksInStore());
    }

    [Fact]
    public async Task A_broken_link_or_a_loop_is_named()
    {
        var dir = await ModelFixture.BuildDirectoryAsync(Temp);
        File.CreateSymbolicLink(Path.Combine(dir, "a.md"), "b.md");
        File.CreateSymbolicLink(Path.Combine(dir, "b.md"), "a.md");
        var loop = await Assert.ThrowsAsync<BentoException>(() => BuildAsync(dir));
        Assert.Matches(@"project/[ab]\.md: broken symbolic link \(its target does not exist, or links loop\)", loop.Message);
        Assert.Empty(StoreContents());

        File.Delete(Path.Combine(dir, "b.md"));
        var broken = await Assert.ThrowsAsync<BentoException>(() => BuildAsync(dir));
        Assert.Equal($"{BentofileParser.DisplayPath(Path.Combine(dir, "a.md"))}: broken symbolic link (its target does not exist, or links loop); remove it or add it to exclude", broken.Message);
    }

    /// <summary>
    /// Stores written before links were resolved hold blobs that are links: verify names them, export refuses them,
    /// and building again replaces them with the bytes.
    /// </summary>
    [Fact]
    public async Task A_blob_that_is_a_link_is_reported_refused_by_export_and_repaired_by_a_build()
    {
        var dir = await ModelFixture.BuildDirectoryAsync(Temp);
        var built = await BuildAsync(dir);
        var weights = built.Manifest.Model.Files.Single(f => f.Path == "model.safetensors");
        var blob = Store.BlobPath(weights.Sha256);
        var bentoFile = Path.Combine(built.Bento.Directory, "model", "model.safetensors");
        var copy = Temp.Combine("copy.safetensors");
        File.Copy(Path.Combine(dir, "model.safetensors"), copy);
        File.Delete(blob);
        File.Delete(bentoFile);
        File.CreateSymbolicLink(blob, copy);
        File.CreateSymbolicLink(bentoFile, copy);

        var problems = await new StoreVerifier(Store).VerifyAsync([built.Bento]);
        Assert.Equal(2, problems.Count);
        Assert.All(problems, p => Assert.StartsWith($"a symbolic link to {copy}, not a stored copy", p.Problem));
        var export = await Assert.ThrowsAsync<BentoException>(() => BentoArchive.ExportToFileAsync(built.Bento, Store, Temp.Combine("x.bento")));
        Assert.Contains("symbolic link", export.Message);

        var repaired = await BuildAsync(dir);
        Assert.Equal(1, repaired.Repaired);
        Assert.Empty(LinksInStore());
        File.Delete(copy);
        await AssertVerifiesAndExportsAsync(repaired.Bento);
    }

    [Fact]
    public void A_hard_link_of_a_symbolic_link_links_its_target()
    {
        var target = Temp.Write("target.bin", "bytes");
        var link = Temp.Combine("link");
        File.CreateSymbolicLink(link, "target.bin");
        Assert.Equal(0, Posix.TryHardLink(link, Temp.Combine("hard")));
        Assert.False(Posix.IsSymbolicLink(Temp.Combine("hard")));
        Assert.Equal(Posix.Identify(target).Inode, Posix.Identify(Temp.Combine("hard")).Inode);
        Assert.Equal(Posix.RealPath(target), Posix.RealPath(link));
    }
}
