using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using Bento.Images.Layers;
using Bento.Images.Oci;
using Bento.Images.Tests.Infrastructure;

namespace Bento.Images.Tests.Layers;

/// <summary>The one deterministic layer writer: same entries => same bytes, whatever the files' metadata, the directory or the time.</summary>
public sealed class LayerTarTests : IDisposable
{
    private readonly TempDirectory _scratch = new();

    public void Dispose() => _scratch.Dispose();

    private static async Task<byte[]> TarBytesAsync(IEnumerable<LayerEntry> entries, DateTimeOffset? mtime = null)
    {
        var ms = new MemoryStream();
        await LayerTar.WriteAsync(ms, LayerTar.Normalize(entries), mtime ?? DateTimeOffset.UnixEpoch, verifyContent: true, default);
        return ms.ToArray();
    }

    /// <summary>The same three files in two directories with different times, modes and names: one layer, byte for byte.</summary>
    [Fact]
    public async Task Same_content_in_different_directories_and_at_different_times_gives_identical_bytes()
    {
        async Task<(byte[] Tar, BuiltLayer Layer)> MakeAsync(string root, DateTime mtime, UnixFileMode mode)
        {
            var files = new Dictionary<string, string> { ["a.txt"] = "alpha", ["sub/b.bin"] = new string('b', 5000), ["sub/deeper/c"] = "gamma" };
            var entries = new List<LayerEntry>();
            foreach (var (rel, text) in files)
            {
                var path = Path.Combine(root, rel);
                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                await File.WriteAllTextAsync(path, text);
                File.SetLastWriteTimeUtc(path, mtime);
                File.SetUnixFileMode(path, mode);
                var bytes = Encoding.UTF8.GetBytes(text);
                entries.Add(LayerEntry.FromFile($"app/{rel}", path, bytes.Length, Convert.ToHexStringLower(SHA256.HashData(bytes))));
            }
            entries.Reverse(); // input order must not matter
            var tar = await TarBytesAsync(entries);
            var layer = await new LayerBuilder(new LayerCache(Path.Combine(root, "cache"))).BuildAsync(new LayerRecipe("t", entries, Compress: true, DateTimeOffset.UnixEpoch), default);
            return (tar, layer);
        }

        var first = await MakeAsync(_scratch.CreateDirectory("one"), new DateTime(2001, 1, 1, 0, 0, 0, DateTimeKind.Utc), (UnixFileMode)0b110_000_000);
        await Task.Delay(1100);
        var second = await MakeAsync(_scratch.CreateDirectory("two", "nested"), DateTime.UtcNow, (UnixFileMode)0b111_111_111);

        Assert.Equal(first.Tar, second.Tar);
        Assert.Equal(first.Layer.Layer.Blob.Descriptor, second.Layer.Layer.Blob.Descriptor);
        Assert.Equal(first.Layer.Layer.DiffId, second.Layer.Layer.DiffId);
        Assert.Equal(OciDigest.Of(first.Tar), first.Layer.Layer.DiffId);
    }

    [Fact]
    public async Task Entries_are_sorted_with_explicit_parents_fixed_times_owner_root_and_normalised_modes()
    {
        var mtime = DateTimeOffset.FromUnixTimeSeconds(1_700_000_000);
        var tar = await TarBytesAsync(
        [
            LayerEntry.FromBytes("z/last.txt", "z"u8.ToArray()),
            LayerEntry.FromBytes("a/b/run.sh", "#!/bin/sh"u8.ToArray(), executable: true),
            LayerEntry.Symlink("a/link", "b/run.sh"),
            LayerEntry.FromBytes("a-b", "dash sorts before slash"u8.ToArray()),
        ], mtime);

        var entries = new List<(string Name, TarEntryType Type, int Mode, DateTimeOffset MTime, int Uid, int Gid, string User, string Group, string Link)>();
        using var reader = new TarReader(new MemoryStream(tar));
        while (await reader.GetNextEntryAsync() is { } e)
        {
            entries.Add((e.Name, e.EntryType, (int)e.Mode, e.ModificationTime, e.Uid, e.Gid, ((PosixTarEntry)e).UserName, ((PosixTarEntry)e).GroupName, e.LinkName));
            var pax = Assert.IsType<PaxTarEntry>(e);
            Assert.DoesNotContain("atime", pax.ExtendedAttributes.Keys);
            Assert.DoesNotContain("ctime", pax.ExtendedAttributes.Keys);
        }
        // Ordinal order on the path without its trailing slash: "a" < "a-b" < "a/b" ('-' < '/'); parents always first.
        Assert.Equal(["a/", "a-b", "a/b/", "a/b/run.sh", "a/link", "z/", "z/last.txt"], entries.Select(e => e.Name));
        Assert.All(entries, e => Assert.Equal(mtime, e.MTime));
        Assert.All(entries, e => Assert.Equal((0, 0, "", ""), (e.Uid, e.Gid, e.User, e.Group)));
        Assert.Equal(0b111_101_101, entries.Single(e => e.Name == "a/").Mode);
        Assert.Equal(0b111_101_101, entries.Single(e => e.Name == "a/b/run.sh").Mode);
        Assert.Equal(0b110_100_100, entries.Single(e => e.Name == "z/last.txt").Mode);
        Assert.Equal((TarEntryType.SymbolicLink, "b/run.sh"), entries.Where(e => e.Name == "a/link").Select(e => (e.Type, e.Link)).Single());
    }

    /// <summary>.NET names PAX extended headers after the process id; the writer must not let that into the bytes.</summary>
    [Fact]
    public async Task Pax_header_names_do_not_contain_the_process_id()
    {
        var longName = "very/" + string.Concat(Enumerable.Repeat("long-directory-name/", 8)) + "file-ü.txt";
        var tar = await TarBytesAsync([LayerEntry.FromBytes(longName, "x"u8.ToArray())]);
        var text = Encoding.Latin1.GetString(tar);
        Assert.DoesNotContain($"PaxHeaders.{Environment.ProcessId}", text);
        Assert.Contains("PaxHeaders.0", text);
        using var reader = new TarReader(new MemoryStream(tar));
        var names = new List<string>();
        while (await reader.GetNextEntryAsync() is { } e) names.Add(e.Name);
        Assert.Contains(longName, names);
    }

    /// <summary>GNU tar, an independent reader, lists what we wrote (names, modes, owners, times).</summary>
    [Fact]
    public async Task Gnu_tar_reads_the_layer()
    {
        var path = _scratch.Combine("layer.tar");
        await File.WriteAllBytesAsync(path, await TarBytesAsync([LayerEntry.FromBytes("bento/model/config.json", "{}"u8.ToArray()), LayerEntry.Symlink("bento/model/w", "../blobs/sha256/00")]));
        var r = await HostTools.CheckedAsync("tar", "--numeric-owner", "--full-time", "-tvf", path);
        var lines = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(4, lines.Length);
        Assert.StartsWith("drwxr-xr-x 0/0", lines[0]);
        Assert.Contains("1970-01-01 00:00:00 bento/", lines[0]);
        Assert.StartsWith("-rw-r--r-- 0/0", lines[2]);
        Assert.StartsWith("lrwxrwxrwx 0/0", lines[3]);
        Assert.EndsWith("bento/model/w -> ../blobs/sha256/00", lines[3]);
    }

    [Theory]
    [InlineData("/abs")]
    [InlineData("a/../b")]
    [InlineData("a//b")]
    [InlineData("trailing/")]
    [InlineData("./x")]
    [InlineData("")]
    public void Invalid_paths_are_rejected(string path)
    {
        Assert.Throws<ArgumentException>(() => LayerTar.Normalize([LayerEntry.FromBytes(path, [])]));
    }

    [Fact]
    public void Duplicate_paths_and_files_used_as_directories_are_rejected()
    {
        Assert.Throws<ArgumentException>(() => LayerTar.Normalize([LayerEntry.FromBytes("a", []), LayerEntry.FromBytes("a", [1])]));
        Assert.Throws<ArgumentException>(() => LayerTar.Normalize([LayerEntry.FromBytes("a", []), LayerEntry.FromBytes("a/b", [])]));
        Assert.Single(LayerTar.Normalize([LayerEntry.Directory("d"), LayerEntry.Directory("d")]));
    }

    /// <summary>One pass gives both digests: diff_id of the tar, digest of the gzip blob; the gzip header has no time or name.</summary>
    [Fact]
    public async Task Gzip_layer_digest_and_diff_id_match_the_bytes_and_the_gzip_header_is_fixed()
    {
        var cache = new LayerCache(_scratch.Combine("cache"));
        var built = await new LayerBuilder(cache).BuildAsync(new LayerRecipe("t", [LayerEntry.FromBytes("f", new byte[100_000])], Compress: true, DateTimeOffset.UnixEpoch), default);
        var blob = await File.ReadAllBytesAsync(cache.BlobPath(built.Layer.Blob.Descriptor.Digest));
        Assert.Equal(MediaTypes.OciLayerGzip, built.Layer.Blob.Descriptor.MediaType);
        Assert.Equal(OciDigest.Of(blob), built.Layer.Blob.Descriptor.Digest);
        Assert.Equal(blob.Length, built.Layer.Blob.Descriptor.Size);
        Assert.Equal([0x1f, 0x8b, 8, 0, 0, 0, 0, 0], blob[..8]); // magic, deflate, no flags (no name), mtime 0
        using var gunzip = new GZipStream(new MemoryStream(blob), CompressionMode.Decompress);
        var tar = new MemoryStream();
        await gunzip.CopyToAsync(tar);
        Assert.Equal(OciDigest.Of(tar.ToArray()), built.Layer.DiffId);
    }

    /// <summary>A file over 8 GiB (sparse, so it costs no disk) needs PAX's size record; the streamed tar must hold all of it.</summary>
    [Fact]
    [Trait("Category", "Slow")]
    public async Task A_weight_over_8_GiB_is_written_with_its_exact_size()
    {
        var path = _scratch.Combine("huge.bin");
        const long size = (8L << 30) + 4097;
        await using (var f = new FileStream(path, FileMode.CreateNew)) f.SetLength(size);
        var sha = Convert.ToHexStringLower(await SHA256.HashDataAsync(File.OpenRead(path)));
        var entries = LayerTar.Normalize([LayerEntry.FromFile("bento/blobs/sha256/x", path, size, sha)]);
        var counter = new CountingStream();
        await LayerTar.WriteAsync(counter, entries, DateTimeOffset.UnixEpoch, verifyContent: false, default);
        // headers (dirs, pax + ustar for the file) + data padded to 512 + two zero blocks, at the block factor .NET uses
        Assert.True(counter.Length > size && counter.Length < size + 64 * 512, $"{counter.Length}");
        Assert.Contains("size=8589938689", Encoding.ASCII.GetString(counter.Head.ToArray()));
    }

    private sealed class CountingStream : Stream
    {
        public MemoryStream Head { get; } = new();
        private long _length;
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => _length;
        public override long Position { get => _length; set => throw new NotSupportedException(); }
        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));
        public override void Write(ReadOnlySpan<byte> buffer)
        {
            if (Head.Length < 16384) Head.Write(buffer[..(int)Math.Min(buffer.Length, 16384 - Head.Length)]);
            _length += buffer.Length;
        }
        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken ct = default)
        {
            Write(buffer.Span);
            return ValueTask.CompletedTask;
        }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
