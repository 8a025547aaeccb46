using System.Formats.Tar;
using Bento.Core.Archive;
using Bento.Core.Manifest;
using Bento.Core.Store;
using ZstdSharp;

namespace Bento.Core.Tests;

public class BentoArchiveTests : StoreTestBase
{
    private async Task<(StoredBento Bento, string Archive)> ExportedAsync()
    {
        var dir = await ModelFixture.BuildDirectoryAsync(Temp);
        Temp.Write("project/README.md", "readme");
        var bento = (await BuildAsync(dir)).Bento;
        var archive = Temp.Combine("fixture.bento");
        await BentoArchive.ExportToFileAsync(bento, Store, archive);
        return (bento, archive);
    }

    private BentoStore FreshStore() => new(Temp.Combine("import-store-" + Guid.NewGuid().ToString("N")[..6]));

    private static void AssertUntouched(BentoStore store)
    {
        Assert.Empty(store.List());
        Assert.Empty(Directory.EnumerateFiles(store.BlobsDirectory));
        Assert.Empty(Directory.EnumerateFileSystemEntries(store.TempDirectory));
    }

    /// <summary>Writes a .bento by hand: entries as given (name, type, content).</summary>
    private static void WriteArchive(string path, IEnumerable<(string Name, TarEntryType Type, byte[]? Data, string? Link)> entries)
    {
        using var file = File.Create(path);
        using var zstd = new CompressionStream(file, 3);
        using var tar = new TarWriter(zstd, TarEntryFormat.Pax);
        foreach (var (name, type, data, link) in entries)
        {
            var entry = new PaxTarEntry(type, name);
            if (data is not null) entry.DataStream = new MemoryStream(data);
            if (link is not null) entry.LinkName = link;
            tar.WriteEntry(entry);
        }
    }

    /// <summary>The real archive's entries, read back, for building doctored variants.</summary>
    private static List<(string Name, TarEntryType Type, byte[]? Data, string? Link)> ReadEntries(string path)
    {
        using var file = File.OpenRead(path);
        using var zstd = new DecompressionStream(file);
        using var tar = new TarReader(zstd);
        var list = new List<(string, TarEntryType, byte[]?, string?)>();
        while (tar.GetNextEntry(copyData: true) is { } e)
        {
            var data = new MemoryStream();
            e.DataStream?.CopyTo(data);
            list.Add((e.Name, e.EntryType, data.ToArray(), null));
        }
        return list;
    }

    [Fact]
    public async Task Export_puts_the_manifest_first_and_import_restores_the_same_bento()
    {
        var (bento, archive) = await ExportedAsync();
        var entries = ReadEntries(archive);
        Assert.Equal("bento.yaml", entries[0].Name);
        Assert.Equal(bento.Manifest.AllFiles().Select(f => f.BentoPath).Order(StringComparer.Ordinal), entries.Skip(1).Select(e => e.Name));

        var other = FreshStore();
        var (imported, created) = await BentoArchive.ImportAsync(other, archive);
        Assert.True(created);
        Assert.Equal(bento.Tag, imported.Tag);
        Assert.Equal(ManifestSerializer.ToJson(bento.Manifest), ManifestSerializer.ToJson(imported.Manifest));
        Assert.Empty(await new StoreVerifier(other).VerifyAsync(other.List()));
        Assert.Empty(Directory.EnumerateFileSystemEntries(other.TempDirectory));

        var (_, again) = await BentoArchive.ImportAsync(other, archive);
        Assert.False(again);
    }

    [Fact]
    public async Task Export_is_deterministic()
    {
        var (bento, archive) = await ExportedAsync();
        var second = Temp.Combine("second.bento");
        await BentoArchive.ExportToFileAsync(bento, Store, second);
        Assert.Equal(File.ReadAllBytes(archive), File.ReadAllBytes(second));
    }

    [Fact]
    public async Task Truncated_archive_is_rejected_and_nothing_is_imported()
    {
        var (_, archive) = await ExportedAsync();
        var bytes = File.ReadAllBytes(archive);
        File.WriteAllBytes(archive, bytes[..(bytes.Length / 2)]);
        var store = FreshStore();
        var e = await Assert.ThrowsAsync<BentoException>(() => BentoArchive.ImportAsync(store, archive));
        Assert.Contains("nothing was imported", e.Message);
        AssertUntouched(store);
    }

    [Fact]
    public async Task Tampered_file_content_is_detected_by_sha256()
    {
        var (_, archive) = await ExportedAsync();
        var entries = ReadEntries(archive);
        var i = entries.FindIndex(e => e.Name == "model/model.safetensors");
        entries[i].Data![^1] ^= 0xFF;
        WriteArchive(archive, entries);
        var store = FreshStore();
        var e = await Assert.ThrowsAsync<BentoException>(() => BentoArchive.ImportAsync(store, archive));
        Assert.Contains("'model/model.safetensors' has sha256", e.Message);
        Assert.Contains("tampered or corrupt", e.Message);
        AssertUntouched(store);
    }

    [Fact]
    public async Task Altered_manifest_is_detected_by_its_version()
    {
        var (_, archive) = await ExportedAsync();
        var entries = ReadEntries(archive);
        var yaml = System.Text.Encoding.UTF8.GetString(entries[0].Data!).Replace("overridable: true", "overridable: false");
        entries[0] = (entries[0].Name, entries[0].Type, System.Text.Encoding.UTF8.GetBytes(yaml), null);
        WriteArchive(archive, entries);
        var store = FreshStore();
        var e = await Assert.ThrowsAsync<BentoException>(() => BentoArchive.ImportAsync(store, archive));
        Assert.Contains("the manifest was altered", e.Message);
        AssertUntouched(store);
    }

    [Theory]
    [InlineData("../evil")]
    [InlineData("/etc/evil")]
    [InlineData("model/../../evil")]
    public async Task Path_traversal_is_rejected(string name)
    {
        var (_, archive) = await ExportedAsync();
        var entries = ReadEntries(archive);
        entries.Insert(1, (name, TarEntryType.RegularFile, "x"u8.ToArray(), null));
        WriteArchive(archive, entries);
        var store = FreshStore();
        var e = await Assert.ThrowsAsync<BentoException>(() => BentoArchive.ImportAsync(store, archive));
        Assert.Contains("unsafe path", e.Message);
        AssertUntouched(store);
        Assert.False(File.Exists(Path.Combine(store.Root, "..", "evil")));
    }

    [Theory]
    [InlineData(TarEntryType.SymbolicLink, "symbolic link")]
    [InlineData(TarEntryType.HardLink, "hard link")]
    [InlineData(TarEntryType.CharacterDevice, "character device")]
    [InlineData(TarEntryType.Fifo, "FIFO")]
    public async Task Links_and_devices_are_rejected(TarEntryType type, string described)
    {
        var (_, archive) = await ExportedAsync();
        var entries = ReadEntries(archive);
        var i = entries.FindIndex(e => e.Name == "src/README.md");
        entries[i] = ("src/README.md", type, null, type is TarEntryType.SymbolicLink or TarEntryType.HardLink ? "/etc/passwd" : null);
        WriteArchive(archive, entries);
        var store = FreshStore();
        var e = await Assert.ThrowsAsync<BentoException>(() => BentoArchive.ImportAsync(store, archive));
        Assert.Contains($"is a {described}", e.Message);
        AssertUntouched(store);
    }

    [Fact]
    public async Task Missing_and_unlisted_entries_are_rejected()
    {
        var (_, archive) = await ExportedAsync();
        var entries = ReadEntries(archive);
        var store = FreshStore();

        WriteArchive(archive, entries.Where(e => e.Name != "model/config.json"));
        Assert.Contains("'model/config.json' is missing", (await Assert.ThrowsAsync<BentoException>(() => BentoArchive.ImportAsync(store, archive))).Message);

        WriteArchive(archive, entries.Append(("src/extra.txt", TarEntryType.RegularFile, "x"u8.ToArray(), null)));
        Assert.Contains("not listed", (await Assert.ThrowsAsync<BentoException>(() => BentoArchive.ImportAsync(store, archive))).Message);

        WriteArchive(archive, entries.Skip(1).Prepend(entries[0]).Reverse());
        Assert.Contains("expected bento.yaml", (await Assert.ThrowsAsync<BentoException>(() => BentoArchive.ImportAsync(store, archive))).Message);
        AssertUntouched(store);
    }

    [Fact]
    public async Task A_file_that_is_not_an_archive_is_rejected()
    {
        var path = Temp.Write("not.bento", "hello, I am text");
        var store = FreshStore();
        var e = await Assert.ThrowsAsync<BentoException>(() => BentoArchive.ImportAsync(store, path));
        Assert.Contains("not a .bento archive", e.Message);
        AssertUntouched(store);
    }
}
