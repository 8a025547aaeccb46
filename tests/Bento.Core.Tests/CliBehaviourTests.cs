using System.Formats.Tar;
using System.Text;
using Bento.Core.Archive;
using Bento.Core.IO;
using Bento.Core.Store;
using Bento.Core.Tar;
using ZstdSharp;

namespace Bento.Core.Tests;

/// <summary>
/// The library side of the CLI behaviour users expect (issue 11, item 5): reproducible archives, streams in and out,
/// import leaving latest alone, refusing to export a corrupt bento, build/import repairing one, and what tags select.
/// </summary>
public class CliBehaviourTests : StoreTestBase
{
    private async Task<StoredBento> BuiltAsync()
    {
        var dir = await ModelFixture.BuildDirectoryAsync(Temp);
        Temp.Write("project/README.md", "readme");
        return (await BuildAsync(dir)).Bento;
    }

    private static byte[] Tar(byte[] bento)
    {
        using var zstd = new DecompressionStream(new MemoryStream(bento));
        var tar = new MemoryStream();
        zstd.CopyTo(tar);
        return tar.ToArray();
    }

    private async Task<byte[]> ExportBytesAsync(StoredBento bento)
    {
        var output = new MemoryStream();
        await BentoArchive.ExportToStreamAsync(bento, Store, output);
        return output.ToArray();
    }

    /// <summary>Replaces the blob of <paramref name="bentoPath"/> (and the bento's link to it) with other bytes of the same size.</summary>
    private void DamageBlob(StoredBento bento, string bentoPath)
    {
        var file = bento.Manifest.AllFiles().Single(f => f.BentoPath == bentoPath).File;
        var blob = Store.BlobPath(file.Sha256);
        var bytes = File.ReadAllBytes(blob);
        bytes[^1] ^= 0xFF;
        File.Delete(blob);
        File.Delete(bento.FilePath(bentoPath));
        File.WriteAllBytes(blob, bytes); // a new inode: the model's source file keeps its good bytes
        Assert.Equal(0, Posix.TryHardLink(blob, bento.FilePath(bentoPath)));
    }

    [Fact]
    public async Task Export_has_no_process_specific_pax_headers_and_fixed_owners()
    {
        var bento = await BuiltAsync();
        var tar = Tar(await ExportBytesAsync(bento));
        var text = Encoding.Latin1.GetString(tar);
        Assert.DoesNotContain($"PaxHeaders.{Environment.ProcessId}", text);
        Assert.Contains("PaxHeaders.0", text);
        using var reader = new TarReader(new MemoryStream(tar));
        while (reader.GetNextEntry() is PosixTarEntry entry)
        {
            Assert.Equal((0, 0, "", ""), (entry.Uid, entry.Gid, entry.UserName, entry.GroupName));
            Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(bento.Manifest.Created.ToUnixTimeSeconds()), entry.ModificationTime);
            Assert.Equal((UnixFileMode)DeterministicTarWriter.FileMode, entry.Mode);
            if (entry is PaxTarEntry pax)
            {
                Assert.False(pax.ExtendedAttributes.ContainsKey("atime"));
                Assert.False(pax.ExtendedAttributes.ContainsKey("ctime"));
            }
        }
    }

    [Fact]
    public async Task The_writer_truncates_mtime_to_seconds_so_a_fraction_never_reaches_the_pax_header()
    {
        async Task<byte[]> WriteAsync(DateTimeOffset mtime)
        {
            var output = new MemoryStream();
            await using (var tar = new DeterministicTarWriter(output, mtime))
                await tar.WriteFileAsync("a", new MemoryStream([1, 2, 3]), executable: false, default);
            return output.ToArray();
        }
        var whole = DateTimeOffset.FromUnixTimeSeconds(1_700_000_000);
        Assert.Equal(await WriteAsync(whole), await WriteAsync(whole.AddMilliseconds(750)));
    }

    [Fact]
    public async Task Export_to_a_stream_equals_export_to_a_file_and_imports_from_a_stream()
    {
        var bento = await BuiltAsync();
        var streamed = await ExportBytesAsync(bento);
        var file = Temp.Combine("out.bento");
        await BentoArchive.ExportToFileAsync(bento, Store, file);
        Assert.Equal(File.ReadAllBytes(file), streamed);

        var other = new BentoStore(Temp.Combine("other"));
        var result = await BentoArchive.ImportAsync(other, new MemoryStream(streamed), "stdin");
        Assert.True(result.Created);
        Assert.Equal(bento.Tag, result.Bento.Tag);
        Assert.Empty(await new StoreVerifier(other).VerifyAsync(other.List()));
    }

    [Fact]
    public async Task Importing_a_bento_already_stored_does_not_move_latest()
    {
        var dir = await ModelFixture.BuildDirectoryAsync(Temp);
        var first = (await BuildAsync(dir)).Bento;
        var archive = Temp.Combine("first.bento");
        await BentoArchive.ExportToFileAsync(first, Store, archive);
        File.WriteAllText(Path.Combine(dir, "bentofile.yaml"), "name: fixture\ndescription: second\n");
        var second = (await BuildAsync(dir)).Bento;
        Assert.Equal(second.Manifest.Version, Store.ReadLatest("fixture"));

        var result = await BentoArchive.ImportAsync(Store, archive);

        Assert.False(result.Created);
        Assert.Equal(0, result.Repaired);
        Assert.Equal(second.Manifest.Version, Store.ReadLatest("fixture"));
    }

    [Fact]
    public async Task Export_refuses_a_bento_with_a_damaged_blob_and_leaves_no_file()
    {
        var bento = await BuiltAsync();
        DamageBlob(bento, "model/tokenizer.json");
        var target = Temp.Combine("out.bento");

        var e = await Assert.ThrowsAsync<BentoException>(() => BentoArchive.ExportToFileAsync(bento, Store, target));

        Assert.Contains("is corrupt", e.Message);
        Assert.Contains("model/tokenizer.json", e.Message);
        Assert.Contains("bento build", e.Message);
        Assert.Empty(Directory.EnumerateFiles(Temp.Path, "out.bento*"));
        await Assert.ThrowsAsync<BentoException>(() => ExportBytesAsync(bento));
    }

    [Fact]
    public async Task Export_refuses_a_missing_blob()
    {
        var bento = await BuiltAsync();
        var sha = bento.Manifest.Files.Single().Sha256;
        File.Delete(Store.BlobPath(sha));
        var e = await Assert.ThrowsAsync<BentoException>(() => ExportBytesAsync(bento));
        Assert.Contains("missing", e.Message);
    }

    [Fact]
    public async Task Import_repairs_a_stored_bento_whose_blob_is_damaged_and_keeps_latest()
    {
        var bento = await BuiltAsync();
        var archive = Temp.Combine("good.bento");
        await BentoArchive.ExportToFileAsync(bento, Store, archive);
        DamageBlob(bento, "model/model.safetensors");
        Assert.NotEmpty(await new StoreVerifier(Store).VerifyAsync(Store.List()));

        var result = await BentoArchive.ImportAsync(Store, archive);

        Assert.Equal(1, result.Repaired);
        Assert.False(result.Created);
        Assert.Empty(await new StoreVerifier(Store).VerifyAsync(Store.List()));
        Assert.Equal(bento.Manifest.Version, Store.ReadLatest("fixture"));
        Assert.Empty(Directory.EnumerateFileSystemEntries(Store.TempDirectory));
    }

    [Fact]
    public async Task Build_repairs_a_stored_bento_whose_blob_is_damaged_or_missing()
    {
        var dir = await ModelFixture.BuildDirectoryAsync(Temp);
        var bento = (await BuildAsync(dir)).Bento;
        DamageBlob(bento, "model/tokenizer.json");
        File.Delete(Store.BlobPath(bento.Manifest.Model.Files.Single(f => f.Path == "config.json").Sha256));

        var again = await BuildAsync(dir);

        Assert.Equal(2, again.Repaired);
        Assert.Equal(bento.Tag, again.Bento.Tag);
        Assert.Empty(await new StoreVerifier(Store).VerifyAsync(Store.List()));
        var noop = await BuildAsync(dir);
        Assert.Equal(0, noop.Repaired);
        Assert.False(noop.Created);
    }

    [Fact]
    public async Task Delete_selection_NAME_means_every_version_and_NAME_latest_only_one()
    {
        var dir = await ModelFixture.BuildDirectoryAsync(Temp);
        var first = (await BuildAsync(dir)).Bento;
        File.WriteAllText(Path.Combine(dir, "bentofile.yaml"), "name: fixture\ndescription: second\n");
        var second = (await BuildAsync(dir)).Bento;
        File.WriteAllText(Path.Combine(dir, "bentofile.yaml"), "name: other\n");
        var other = (await BuildAsync(dir)).Bento;

        Assert.Equal([first.Tag, second.Tag], BentoSelector.ForDelete(Store, [BentoTag.Parse("fixture")]).Select(b => b.Tag).Order());
        Assert.Equal([second.Tag], BentoSelector.ForDelete(Store, [BentoTag.Parse("fixture:latest")]).Select(b => b.Tag));
        Assert.Equal([first.Tag, other.Tag],
            BentoSelector.ForDelete(Store, [BentoTag.Parse(first.Tag), BentoTag.Parse("other"), BentoTag.Parse(first.Tag)]).Select(b => b.Tag));
        Assert.Throws<BentoException>(() => BentoSelector.ForDelete(Store, [BentoTag.Parse("other"), BentoTag.Parse("nosuch")]));
    }

    [Fact]
    public async Task List_filter_is_a_name_prefix_or_a_tag()
    {
        var dir = await ModelFixture.BuildDirectoryAsync(Temp);
        var first = (await BuildAsync(dir)).Bento;
        File.WriteAllText(Path.Combine(dir, "bentofile.yaml"), "name: fixture\ndescription: second\n");
        var second = (await BuildAsync(dir)).Bento;

        string[] Tags(string? filter) => BentoSelector.ForList(Store, filter).Select(b => b.Tag).Order().ToArray();
        Assert.Equal(2, Tags("fix").Length);
        Assert.Equal(2, Tags("fixture").Length);
        Assert.Empty(Tags("other"));
        Assert.Equal([second.Tag], Tags("fixture:latest"));
        Assert.Equal([first.Tag], Tags($"fixture:{first.Manifest.Version[..10]}"));
        Assert.Empty(Tags("nosuch:latest"));
        Assert.Throws<UsageException>(() => Tags("Bad!"));
        Assert.Contains("fixture:latest", BentoSelector.CompletionTags(Store));
        Assert.Contains(first.Tag, BentoSelector.CompletionTags(Store));
    }

    [Theory]
    [InlineData("-")]
    [InlineData("/dev/stdout")]
    public async Task Export_destination_dash_and_dev_stdout_mean_stdout(string argument)
    {
        var bento = await BuiltAsync();
        Assert.IsType<ExportDestination.StandardOutput>(ExportDestination.Resolve(argument, bento.Manifest));
    }

    [Fact]
    public async Task Export_destination_directory_gets_NAME_VERSION_bento_inside()
    {
        var bento = await BuiltAsync();
        var expected = $"fixture-{bento.Manifest.Version}.bento";
        var existing = Temp.CreateDirectory("exports");
        Assert.Equal(new ExportDestination.File(Path.Combine(existing, expected)), ExportDestination.Resolve(existing, bento.Manifest));
        Assert.Equal(new ExportDestination.File(Path.Combine("later/", expected)), ExportDestination.Resolve("later/", bento.Manifest));
        Assert.Equal(new ExportDestination.File("plain.bento"), ExportDestination.Resolve("plain", bento.Manifest));
        Assert.Equal(new ExportDestination.File("plain.bento"), ExportDestination.Resolve("plain.bento", bento.Manifest));
    }
}
