using System.Diagnostics;
using System.Globalization;
using Bento.Core.IO;

namespace Bento.Runtime.Model;

/// <summary>
/// How much of a weight file the page cache holds in huge (2 MiB on x86-64) pages, after <see cref="Prepare"/> brought
/// it there.
/// </summary>
/// <remarks>
/// Decode reads every weight once per token, a new 4 KiB page every row or two, so with small pages the TLB misses
/// cost ~15% of a bfloat16 decode step (Llama-3.2-1B shape: 83-85 ms a token in 4 KiB pages, 72-74 ms in 2 MiB ones).
/// The runtime's mappings ask for huge entries (MADV_HUGEPAGE), but a mapping can only use them where the page cache
/// holds the file in huge folios. It does when the file is read into the cache through such a mapping or by a
/// sequential read (on kernels and file systems with large folios: XFS and btrfs since Linux 6.x, ext4 since 6.16),
/// but not when the cache holds it from being written — a checkpoint just downloaded, or a bento just built with
/// <c>quantize: int8</c> — nor after memory pressure split it. Then the advice changes nothing and decode stays slow
/// for as long as the file stays cached.
/// <para>
/// <see cref="Prepare"/> therefore looks before the weights are used: it maps the file, faults it in (which also reads
/// a cold file now rather than during the first requests) and reads from /proc/self/smaps how much was mapped with
/// huge entries. Below <see cref="EnoughHuge"/> it first tries one 4 MiB range (evicted and read back through an
/// advised mapping): where that does not come back in huge folios either, this kernel or file system cannot give them
/// and the file is left as it is. Otherwise it writes back and evicts the file's cached pages that no process maps and
/// faults the file in again, which reads it in huge folios. Nothing is lost (the pages come back from the file; pages
/// other processes map stay where they are) and the file stays counted once: the probe mappings are gone before the
/// runtime maps the file for real.
/// </para>
/// </remarks>
public sealed record WeightFilePages(string FilePath, long Bytes, long HugeBytes, bool Reread, TimeSpan Elapsed, string? Note)
{
    /// <summary>Smaller files are left alone: their TLB misses are too few to matter.</summary>
    public const long MinBytes = 32L << 20;

    /// <summary>The share of a file's whole huge pages that must already be mapped with huge entries.</summary>
    public const double EnoughHuge = 0.9;

    private const string ThpEnabledPath = "/sys/kernel/mm/transparent_hugepage/enabled";
    private const string ThpSizePath = "/sys/kernel/mm/transparent_hugepage/hpage_pmd_size";

    /// <summary>The size of a huge page (a PMD mapping): 2 MiB on x86-64 and on arm64 with 4 KiB pages.</summary>
    public static long HugePage { get; } = ReadHugePageSize();

    /// <summary>The bytes that could be mapped with huge entries: the file's whole huge pages.</summary>
    public long HugeCapable => WholeHugePages(Bytes);

    private static long WholeHugePages(long bytes) => bytes / HugePage * HugePage;

    /// <summary>Checks and, where needed, re-reads <paramref name="path"/> as described in the remarks.
    /// Null for files under <see cref="MinBytes"/> and on systems other than Linux. Best effort: whatever goes wrong
    /// (a file it may not open, no address space for the probe mapping, smaps it cannot read) is reported in
    /// <see cref="Note"/>, and the weights load as they would have.</summary>
    public static WeightFilePages? Prepare(string path)
    {
        if (!OperatingSystem.IsLinux()) return null;
        var clock = Stopwatch.StartNew();
        long bytes = 0;
        try
        {
            using var file = File.OpenHandle(path, FileMode.Open, FileAccess.Read);
            bytes = RandomAccess.GetLength(file);
            return bytes < MinBytes ? null : Prepare(path, file, bytes, clock);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return new WeightFilePages(path, bytes, 0, false, clock.Elapsed, $"not checked: {e.Message}");
        }
    }

    private static WeightFilePages Prepare(string path, Microsoft.Win32.SafeHandles.SafeFileHandle file, long bytes, Stopwatch clock)
    {
        WeightFilePages Result(long huge, bool reread, string? note) => new(path, bytes, huge, reread, clock.Elapsed, note);
        var off = TransparentHugePagesOff();
        if (off is not null) return Result(0, false, off);
        // A file the cache cannot hold would only be read twice for nothing: its first pages are gone by the end.
        if (bytes > Bento.Core.Serving.HostMemory.Measure().TotalBytes)
            return Result(0, false, "a file larger than the memory is left as it is");
        if (bytes < 3 * HugePage) return Result(0, false, $"smaller than three huge pages of {HugePage >> 20} MiB");
        var enough = EnoughHuge * WholeHugePages(bytes);
        var huge = FaultInAndMeasure(file, 0, bytes);
        if (huge >= enough) return Result(huge, false, null);
        // One range first: a kernel or file system without large folios must not cost a whole second read.
        var trial = 2 * HugePage;
        if (!Posix.DropCachedPages(file, HugePage, trial))
            return Result(huge, false, "the kernel refused to evict its cached pages");
        if (FaultInAndMeasure(file, HugePage, trial) < EnoughHuge * trial)
            return Result(huge, false, "this kernel or file system gives it no huge folios (tried on 4 MiB of it), so it is left as it is");
        Posix.DropCachedPages(file, 0, bytes);
        huge = FaultInAndMeasure(file, 0, bytes);
        return Result(huge, true, huge >= enough ? null : "the rest is mapped by other processes in small pages, or free memory has no huge folios");
    }

    /// <summary>"2 MiB pages for 2357 of 2357 MiB of weight files (page cache re-read in 0.5 s)"; null when no file was big enough.</summary>
    public static string? Describe(IReadOnlyCollection<WeightFilePages> files)
    {
        if (files.Count == 0) return null;
        var text = $"{HugePage >> 20} MiB pages for {files.Sum(f => f.HugeBytes) >> 20} of {files.Sum(f => f.Bytes) >> 20} MiB of weight files";
        var reread = files.Where(f => f.Reread).ToList();
        if (reread.Count > 0)
            text += $" (page cache re-read in {reread.Sum(f => f.Elapsed.TotalSeconds).ToString("0.0", CultureInfo.InvariantCulture)} s)";
        var notes = files.Select(f => f.Note).OfType<string>().Distinct().ToList();
        return notes.Count == 0 ? text : $"{text}: {string.Join("; ", notes)}";
    }

    /// <summary>Maps [offset, offset + length) of the file with the advice, faults every page in, and returns how many
    /// bytes got huge entries.</summary>
    private static unsafe long FaultInAndMeasure(Microsoft.Win32.SafeHandles.SafeFileHandle file, long offset, long length)
    {
        var address = Posix.MapReadOnly(file, offset, length);
        try
        {
            Posix.Advise(address, length, Posix.MemoryAdvice.HugePage);
            if (!Posix.Advise(address, length, Posix.MemoryAdvice.PopulateRead))
            {
                // Kernels before 5.14 have no MADV_POPULATE_READ: touch one byte a page.
                var p = (byte*)address;
                var sum = 0;
                for (long i = 0; i < length; i += Environment.SystemPageSize) sum += Volatile.Read(ref p[i]);
                GC.KeepAlive(sum);
            }
            return FilePmdMappedBytes(address, length);
        }
        finally
        {
            Posix.Unmap(address, length);
        }
    }

    /// <summary>smaps' FilePmdMapped summed over this process's mappings that start inside [address, address + length).</summary>
    internal static long FilePmdMappedBytes(nint address, long length)
    {
        long total = 0;
        var inside = false;
        foreach (var line in File.ReadLines("/proc/self/smaps"))
        {
            var dash = line.IndexOf('-');
            if (dash > 0 && line.IndexOf(' ') > dash && ulong.TryParse(line.AsSpan(0, dash), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var start))
                inside = start >= (ulong)address && start < (ulong)address + (ulong)length;
            else if (inside && line.StartsWith("FilePmdMapped:", StringComparison.Ordinal))
                total += long.Parse(line.AsSpan(14).Trim().TrimEnd("kB").Trim(), CultureInfo.InvariantCulture) * 1024;
        }
        return total;
    }

    private static long ReadHugePageSize()
    {
        try { return long.Parse(File.ReadAllText(ThpSizePath).Trim(), CultureInfo.InvariantCulture); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException) { return 2L << 20; }
    }

    private static string? TransparentHugePagesOff()
    {
        try
        {
            return File.ReadAllText(ThpEnabledPath).Contains("[never]", StringComparison.Ordinal)
                ? $"transparent huge pages are off ({ThpEnabledPath})" : null;
        }
        catch (IOException) { return "this kernel has no transparent huge pages"; }
        catch (UnauthorizedAccessException) { return null; }
    }
}
