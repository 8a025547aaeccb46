using System.Diagnostics;
using System.Globalization;
using Bento.Core.IO;

namespace Bento.Runtime.Model;

/// <summary>
/// How much of a weight file the page cache holds in 2 MiB pages, after <see cref="Prepare"/> brought it there.
/// </summary>
/// <remarks>
/// Decode reads every weight once per token, a new 4 KiB page every row or two, so with small pages the TLB misses
/// cost ~15% of a bfloat16 decode step (Llama-3.2-1B shape: 83-85 ms a token in 4 KiB pages, 72-74 ms in 2 MiB ones).
/// The runtime's mappings ask for 2 MiB entries (MADV_HUGEPAGE), but a mapping can only use them where the page cache
/// holds the file in 2 MiB folios. It does when the file is read into the cache through such a mapping or by a
/// sequential read (Linux 6.x, ext4/XFS/btrfs), but not when the cache holds it from being written — a checkpoint just
/// downloaded, or a bento just built with <c>quantize: int8</c> — nor after memory pressure split it. Then the advice
/// changes nothing and decode stays slow for as long as the file stays cached.
/// <para>
/// <see cref="Prepare"/> therefore looks before the weights are used: it maps the file, faults it in (which also reads
/// a cold file now rather than during the first requests) and reads from /proc/self/smaps how much was mapped with
/// 2 MiB entries. Below <see cref="EnoughHuge"/> it unmaps, writes back and evicts the file's cached pages that no
/// process maps, and faults the file in again through the advised mapping, which reads it in 2 MiB folios. Nothing is
/// lost (the pages come back from the file; pages other processes map stay where they are) and the file stays
/// counted once: the probe mapping is gone before the runtime maps the file for real.
/// </para>
/// </remarks>
public sealed record WeightFilePages(string FilePath, long Bytes, long HugeBytes, bool Reread, TimeSpan Elapsed, string? Note)
{
    /// <summary>Smaller files are left alone: their TLB misses are too few to matter.</summary>
    public const long MinBytes = 32L << 20;

    /// <summary>The share of a file's whole 2 MiB pages that must already be mapped with 2 MiB entries.</summary>
    public const double EnoughHuge = 0.9;

    private const long HugePage = 2L << 20;
    private const string ThpEnabledPath = "/sys/kernel/mm/transparent_hugepage/enabled";

    /// <summary>The bytes that could be mapped with 2 MiB entries: the file's whole 2 MiB pages.</summary>
    public long HugeCapable => Bytes / HugePage * HugePage;

    /// <summary>Checks and, where needed, re-reads <paramref name="path"/> as described in the remarks.
    /// Null for files under <see cref="MinBytes"/> and on systems other than Linux. Best effort: a probe that fails
    /// (no address space for the probe mapping, say) is reported in <see cref="Note"/>, and the weights load as before.</summary>
    public static WeightFilePages? Prepare(string path)
    {
        if (!OperatingSystem.IsLinux()) return null;
        var clock = Stopwatch.StartNew();
        using var file = File.OpenHandle(path, FileMode.Open, FileAccess.Read);
        var bytes = RandomAccess.GetLength(file);
        if (bytes < MinBytes) return null;
        try { return Prepare(path, file, bytes, clock); }
        catch (IOException e) { return new WeightFilePages(path, bytes, 0, false, clock.Elapsed, $"not checked: {e.Message}"); }
    }

    private static WeightFilePages Prepare(string path, Microsoft.Win32.SafeHandles.SafeFileHandle file, long bytes, Stopwatch clock)
    {
        var off = TransparentHugePagesOff();
        if (off is not null) return new WeightFilePages(path, bytes, 0, false, clock.Elapsed, off);
        // A file the cache cannot hold would only be read twice for nothing: its first pages are gone by the end.
        if (bytes > Bento.Core.Serving.HostMemory.Measure().AvailableBytes)
            return new WeightFilePages(path, bytes, 0, false, clock.Elapsed, "a file larger than the available memory is left as it is");
        var enough = EnoughHuge * (bytes / HugePage * HugePage);
        var huge = FaultInAndMeasure(file, bytes);
        if (huge >= enough)
            return new WeightFilePages(path, bytes, huge, false, clock.Elapsed, null);
        if (!Posix.DropCachedPages(file))
            return new WeightFilePages(path, bytes, huge, false, clock.Elapsed, "the kernel refused to evict its cached pages");
        huge = FaultInAndMeasure(file, bytes);
        var note = huge >= enough ? null
            : "the rest is mapped by other processes in small pages, or the file system or free memory has no 2 MiB folios";
        return new WeightFilePages(path, bytes, huge, true, clock.Elapsed, note);
    }

    /// <summary>"2 MiB pages for 2357 of 2357 MiB of weights (page cache re-read in 0.5 s)"; null when no file was big enough.</summary>
    public static string? Describe(IReadOnlyCollection<WeightFilePages> files)
    {
        if (files.Count == 0) return null;
        var text = $"2 MiB pages for {files.Sum(f => f.HugeBytes) >> 20} of {files.Sum(f => f.Bytes) >> 20} MiB of weights";
        var reread = files.Where(f => f.Reread).ToList();
        if (reread.Count > 0)
            text += $" (page cache re-read in {reread.Sum(f => f.Elapsed.TotalSeconds).ToString("0.0", CultureInfo.InvariantCulture)} s)";
        var notes = files.Select(f => f.Note).OfType<string>().Distinct().ToList();
        return notes.Count == 0 ? text : $"{text}: {string.Join("; ", notes)}";
    }

    /// <summary>Maps the file with the advice, faults every page in, and returns how many bytes got 2 MiB entries.</summary>
    private static unsafe long FaultInAndMeasure(Microsoft.Win32.SafeHandles.SafeFileHandle file, long bytes)
    {
        var address = Posix.MapReadOnly(file, bytes);
        try
        {
            Posix.Advise(address, bytes, Posix.MemoryAdvice.HugePage);
            if (!Posix.Advise(address, bytes, Posix.MemoryAdvice.PopulateRead))
            {
                // Kernels before 5.14 have no MADV_POPULATE_READ: touch one byte a page.
                var p = (byte*)address;
                var sum = 0;
                for (long i = 0; i < bytes; i += 4096) sum += Volatile.Read(ref p[i]);
                GC.KeepAlive(sum);
            }
            return FilePmdMappedBytes(address, bytes);
        }
        finally
        {
            Posix.Unmap(address, bytes);
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
