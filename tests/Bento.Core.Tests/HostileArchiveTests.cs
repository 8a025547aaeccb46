using System.Formats.Tar;
using System.Text;
using Bento.Core.Archive;
using Bento.Core.Store;
using ZstdSharp;
using static Bento.Core.Tests.HostileInput;
using static Bento.TestSupport.HostileFiles;

namespace Bento.Core.Tests;

/// <summary>
/// <c>bento import</c> of crafted .bento files: each is refused with the entry, the size and the limit named,
/// in bounded time and memory, and leaves the store as it was.
/// </summary>
[Collection(HostileInputCollection.Name)]
public class HostileArchiveTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    private BentoStore Store() => new(_temp.Combine("store"));

    private static void AssertUntouched(BentoStore store)
    {
        if (!Directory.Exists(store.Root)) return; // refused before the store was even created
        Assert.Empty(store.List());
        Assert.Empty(Directory.EnumerateFiles(store.BlobsDirectory));
        Assert.Empty(Directory.EnumerateFileSystemEntries(store.TempDirectory));
    }

    /// <summary>A .bento of one tar header claiming <paramref name="size"/> bytes, which follow as zeros.</summary>
    private string Crafted(string name, byte[] header, long size)
    {
        var path = _temp.Combine(name);
        using (var file = File.Create(path)) WriteZstdFrame(file, header, size);
        return path;
    }

    private async Task<string> ImportFailsAsync(string archive)
    {
        var store = Store();
        var e = await FailsBoundedAsync<BentoException>(() => BentoArchive.ImportAsync(store, archive));
        AssertUntouched(store);
        return e.Message;
    }

    [Fact]
    public async Task A_gigabyte_GNU_long_name_is_refused_at_its_header()
    {
        var archive = Crafted("longname.bento", TarHeader("././@LongLink", 'L', 1000L << 20, gnu: true), 1000L << 20);
        Assert.InRange(new FileInfo(archive).Length, 1, 40_000); // the attack: 34 KB on disk, a gigabyte of name
        var message = await ImportFailsAsync(archive);
        Assert.Equal($"{archive}: tar entry 1: GNU long name of 1000 MiB (1048576000 bytes) exceeds the 64 KiB limit " +
                     "(a corrupt or hostile archive); nothing was imported", message);
    }

    [Fact]
    public async Task A_1_5_GB_PAX_header_is_refused_at_its_header()
    {
        var archive = Crafted("pax.bento", TarHeader("PaxHeaders/bento.yaml", 'x', 1_500_000_000), 1_500_000_000);
        Assert.InRange(new FileInfo(archive).Length, 1, 60_000);
        var message = await ImportFailsAsync(archive);
        Assert.Contains($"{archive}: tar entry 1: PAX extended header of 1.4 GiB (1500000000 bytes) exceeds the 64 KiB limit", message);
        Assert.EndsWith("nothing was imported", message);
    }

    [Fact]
    public async Task An_oversized_PAX_global_header_and_GNU_long_link_are_refused()
    {
        Assert.Contains("tar entry 1: PAX global header of 1 MiB",
            await ImportFailsAsync(Crafted("global.bento", TarHeader("g", 'g', 1 << 20), 1 << 20)));
        Assert.Contains("tar entry 1: GNU long link name of 100 MiB",
            await ImportFailsAsync(Crafted("link.bento", TarHeader("././@LongLink", 'K', 100 << 20, gnu: true), 100 << 20)));
    }

    /// <summary>
    /// The guard must find headers where TarReader does: after a PAX 'size' record the entry's data is that long,
    /// whatever its own header says. A guard that ignored the record would miss the hostile header behind it.
    /// </summary>
    [Fact]
    public void The_guard_follows_PAX_size_records_to_the_next_header()
    {
        var records = PaxRecords(("path", "a.txt"), ("size", "600"));
        var tar = new MemoryStream();
        tar.Write(TarHeader("PaxHeaders/a.txt", 'x', records.Length));
        tar.Write(Padded(records));
        tar.Write(TarHeader("a.txt", '0', 0));
        tar.Write(Padded(Enumerable.Repeat((byte)'A', 600).ToArray()));
        tar.Write(TarHeader("PaxHeaders/b", 'x', 70_000));
        tar.Write(new byte[70_000 + 512]);
        tar.Position = 0;

        using var reader = new TarReader(new TarMetadataGuard(tar, "test.bento"));
        var entry = reader.GetNextEntry()!;
        Assert.Equal("a.txt", entry.Name);
        Assert.Equal(600, entry.Length);
        var e = Assert.Throws<BentoException>(() => reader.GetNextEntry());
        Assert.Contains("test.bento: tar entry 3: PAX extended header of 68.4 KiB (70000 bytes) exceeds the 64 KiB limit", e.Message);
    }

    [Fact]
    public async Task A_billion_laughs_bento_yaml_is_refused_before_it_is_expanded()
    {
        var bomb = BillionLaughs("schema: 1\n");
        Assert.InRange(bomb.Length, 1, 420);
        var archive = _temp.Combine("laughs.bento");
        using (var file = File.Create(archive))
        using (var zstd = new CompressionStream(file, 3))
        using (var tar = new TarWriter(zstd, TarEntryFormat.Pax))
            tar.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, "bento.yaml") { DataStream = new MemoryStream(Encoding.UTF8.GetBytes(bomb)) });
        var message = await ImportFailsAsync(archive);
        Assert.StartsWith($"{archive}:bento.yaml:", message);
        Assert.Contains("more than the 1000000 nodes allowed once aliases are expanded", message);
    }

    [Fact]
    public async Task An_archive_that_is_a_FIFO_is_refused_without_blocking()
    {
        var path = _temp.Combine("pipe.bento");
        MakeFifo(path);
        var message = await ImportFailsAsync(path);
        Assert.StartsWith($"{path}: not a regular file", message);
    }
}
