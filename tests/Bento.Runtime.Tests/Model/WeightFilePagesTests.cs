using System.Text;
using Bento.Core.IO;
using Bento.Runtime.Model;

namespace Bento.Runtime.Tests.Model;

/// <summary>
/// The page cache's 2 MiB folios for weight files (<see cref="WeightFilePages"/>). The files live below the test's own
/// folder, on the checkout's disk file system: /tmp is a tmpfs inside the test rootfs, whose pages cannot be evicted.
/// </summary>
public sealed class WeightFilePagesTests
{
    private const int FileBytes = 48 << 20;

    [Fact]
    public void A_file_cached_in_small_pages_is_read_again_into_2_MiB_pages()
    {
        using var temp = new TempDirectory("bento-pages-", AppContext.BaseDirectory);
        var path = WriteSafetensors(temp.Combine("model.safetensors"));
        if (ThpOff())
        {
            var off = WeightFilePages.Prepare(path)!;
            Assert.Contains("transparent huge pages are off", off.Note);
            return;
        }

        // A cold read through the advised mapping gives huge folios where the kernel and file system have large folios
        // (as on the CI machine: ext4 on Linux 6.18); there the whole path must work. Elsewhere the report must say
        // why there are none, and a 4 MiB trial must have spared the file a second full read.
        Evict(path);
        var cold = WeightFilePages.Prepare(path)!;
        if (!LargeFoliosExpected(path) && cold.HugeBytes < WeightFilePages.EnoughHuge * cold.HugeCapable)
        {
            Assert.False(cold.Reread, $"read again although the trial range came back in small folios: {cold}");
            Assert.Contains("gives it no huge folios", cold.Note);
            return;
        }
        Assert.True(cold.HugeBytes >= WeightFilePages.EnoughHuge * cold.HugeCapable, $"a cold read gave no huge folios: {cold}");
        Assert.False(cold.Reread);

        // Readahead off, one 4 KiB page at a time, last page first: the cache now holds the file in small folios,
        // as it does after the file was written.
        CacheInSmallPages(path);
        var small = WeightFilePages.Prepare(path)!;
        Assert.True(small.Reread, $"small pages were not noticed: {small}");
        Assert.True(small.HugeBytes >= WeightFilePages.EnoughHuge * small.HugeCapable, $"not read into 2 MiB pages: {small}");
        Assert.Null(small.Note);

        var again = WeightFilePages.Prepare(path)!;
        Assert.False(again.Reread);
        Assert.Equal(small.HugeBytes, again.HugeBytes);
        Assert.Equal(FileBytes / WeightFilePages.HugePage * WeightFilePages.HugePage, again.HugeCapable);
    }

    [Fact]
    public void The_checkpoint_prepares_a_big_file_only_when_asked_and_its_tensors_read_the_same_bytes()
    {
        using var temp = new TempDirectory("bento-pages-", AppContext.BaseDirectory);
        var path = WriteSafetensors(temp.Combine("model.safetensors"));
        using (var unprepared = SafetensorsCheckpoint.Open(temp.Path))
        using (unprepared.Get("w"))
            Assert.Empty(unprepared.Pages); // weights copied elsewhere (a GPU, a float32 copy) leave the cache alone
        using var checkpoint = SafetensorsCheckpoint.Open(temp.Path, preparePages: true);
        using var w = checkpoint.Get("w");
        using var again = checkpoint.Get("w");
        var pages = Assert.Single(checkpoint.Pages);
        Assert.Equal(path, pages.FilePath);
        Assert.Equal(new FileInfo(path).Length, pages.Bytes);
        Assert.True(checkpoint.IsMapped(w), "the tensor must stay a view of the file");
        var values = w.data<float>();
        Assert.Equal(0f, values[0]);
        Assert.Equal(1f, values[1]);
        Assert.Equal(FileBytes / 4 - 1, values[FileBytes / 4 - 1]);
    }

    [Fact]
    public void Files_under_the_minimum_are_left_alone()
    {
        using var temp = new TempDirectory("bento-pages-", AppContext.BaseDirectory);
        var path = temp.Combine("small.bin");
        File.WriteAllBytes(path, new byte[WeightFilePages.MinBytes - 1]);
        Assert.Null(WeightFilePages.Prepare(path));
    }

    [Fact]
    public void The_description_sums_files_and_says_what_was_read_again_and_why_pages_are_missing()
    {
        var a = new WeightFilePages("a", 3L << 30, 3L << 30, true, TimeSpan.FromSeconds(0.25), null);
        var b = new WeightFilePages("b", 1L << 30, 512L << 20, true, TimeSpan.FromSeconds(0.5), "why");
        var c = new WeightFilePages("c", 1L << 30, 1L << 30, false, TimeSpan.FromSeconds(9), null);
        var size = $"{WeightFilePages.HugePage >> 20} MiB pages";
        Assert.Equal($"{size} for 4608 of 5120 MiB of weight files (page cache re-read in 0.8 s): why", WeightFilePages.Describe([a, b, c]));
        Assert.Equal($"{size} for 1024 of 1024 MiB of weight files", WeightFilePages.Describe([c]));
        Assert.Null(WeightFilePages.Describe([]));
    }

    /// <summary>A one-tensor safetensors file of <see cref="FileBytes"/> data bytes, float32 0, 1, 2, ..., written
    /// through the page cache.</summary>
    private static string WriteSafetensors(string path)
    {
        var header = Encoding.UTF8.GetBytes($"{{\"w\":{{\"dtype\":\"F32\",\"shape\":[{FileBytes / 4}],\"data_offsets\":[0,{FileBytes}]}}}}");
        var padded = (header.Length + 7) / 8 * 8;
        using var stream = new FileStream(path, FileMode.CreateNew, FileAccess.Write);
        stream.Write(BitConverter.GetBytes((long)padded));
        stream.Write(header);
        for (var i = header.Length; i < padded; i++) stream.WriteByte((byte)' ');
        var chunk = new float[1 << 16];
        for (var start = 0; start < FileBytes / 4; start += chunk.Length)
        {
            for (var i = 0; i < chunk.Length; i++) chunk[i] = start + i;
            stream.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(chunk.AsSpan()));
        }
        return path;
    }

    private static void Evict(string path)
    {
        using var file = File.OpenHandle(path, FileMode.Open, FileAccess.Read);
        Assert.True(Posix.DropCachedPages(file));
    }

    private static void CacheInSmallPages(string path)
    {
        Evict(path);
        // FileOptions.RandomAccess is posix_fadvise(POSIX_FADV_RANDOM): no readahead, so each read caches one page.
        using var file = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.RandomAccess);
        var page = new byte[4096];
        for (var offset = (RandomAccess.GetLength(file) - 1) / 4096 * 4096; offset >= 0; offset -= 4096)
            RandomAccess.Read(file, page, offset);
    }

    /// <summary>Whether the test folder's file system gives a cold read huge folios on this kernel: XFS since Linux 6.1
    /// (large folios since 5.18), ext4 since 6.16; other file systems are not assumed either way.</summary>
    private static bool LargeFoliosExpected(string path)
    {
        var kernel = Environment.OSVersion.Version;
        return new DriveInfo(path).DriveFormat switch
        {
            "ext4" => kernel >= new Version(6, 16),
            "xfs" => kernel >= new Version(6, 1),
            _ => false,
        };
    }

    private static bool ThpOff() =>
        !File.Exists("/sys/kernel/mm/transparent_hugepage/enabled") ||
        File.ReadAllText("/sys/kernel/mm/transparent_hugepage/enabled").Contains("[never]");
}
