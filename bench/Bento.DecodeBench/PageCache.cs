using Bento.Core.IO;
using Bento.Runtime.Model;

/// <summary>
/// Puts a benchmark's files in the page cache the way a cold start does, so that neither engine pays the first read
/// and neither maps pages cached from being written: those sit in small folios, which slow whichever engine reads
/// them (see <see cref="WeightFilePages"/>), while a read in order caches large ones.
/// </summary>
internal static class PageCache
{
    /// <summary>Evicts <paramref name="path"/>'s cached pages, reads it once in order, and says how much of it the
    /// cache now holds in huge folios, as <see cref="WeightFilePages.Prepare"/> sees it (which reads it again itself
    /// where the in-order read left it in small ones).</summary>
    public static string ReadAfresh(string path)
    {
        using (var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read))
            if (!Posix.DropCachedPages(handle)) throw new IOException($"{path}: the kernel refused to evict its cached pages");
        using (var s = File.OpenRead(path))
        {
            var buffer = new byte[1 << 20];
            while (s.Read(buffer) > 0) { }
        }
        var pages = WeightFilePages.Prepare(path);
        return $"{Path.GetFileName(Path.GetDirectoryName(path))}/{Path.GetFileName(path)}: " +
               (pages is null ? "small file" : WeightFilePages.Describe([pages]));
    }
}
