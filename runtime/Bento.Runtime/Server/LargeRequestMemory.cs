using System.Runtime;

namespace Bento.Runtime.Server;

/// <summary>
/// Gives the memory of large requests back to the operating system once a burst of them is over. A multi-megabyte
/// prompt costs the server its body, the parsed JSON and the prompt as text (tens of megabytes each, mostly on the
/// large object heap); refused or served, that is garbage at once, but nothing makes the GC collect and release it
/// while the server is otherwise idle, so six concurrent 7 MiB prompts left it hundreds of megabytes bigger for good.
/// Two seconds after the last large body, one compacting, aggressive collection (milliseconds: model weights live in
/// native memory, not on the managed heap) returns it.
/// <para>
/// During a burst the garbage of the earlier large bodies piles up on the large object heap until the GC's own budget
/// calls for a full collection, and with the CPU busy (the model decoding, or other processes) its background
/// collection falls behind: four rounds of six 7 MiB prompts once peaked 969 MiB above the idle server. So every
/// <see cref="CollectAfterBytes"/> of large bodies the request that crosses the mark runs a full, non-compacting
/// collection itself: the peak stays near what the requests in flight hold.
/// </para>
/// </summary>
internal static class LargeRequestMemory
{
    /// <summary>Bodies from this size on count as large.</summary>
    public const int LargeBodyBytes = 1 << 20;

    public static readonly TimeSpan Quiet = TimeSpan.FromSeconds(2);

    /// <summary>Large bodies' bytes after which a burst collects at once (a body costs about four times its size).</summary>
    public const long CollectAfterBytes = 32L << 20;

    private static long _sinceCollection;

    private static readonly Lock Gate = new();
    private static Timer? _timer;

    /// <summary>Notes a request body of <paramref name="bytes"/> bytes; a large one (re)arms the collection.</summary>
    public static void Noted(long bytes)
    {
        if (bytes < LargeBodyBytes) return;
        // Only the request whose body crosses the mark collects; the count starts again from what it had reached.
        var after = Interlocked.Add(ref _sinceCollection, bytes);
        if (after >= CollectAfterBytes && after - bytes < CollectAfterBytes)
        {
            Interlocked.Add(ref _sinceCollection, -after);
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: false);
        }
        lock (Gate)
        {
            _timer ??= new Timer(_ => Release());
            _timer.Change(Quiet, Timeout.InfiniteTimeSpan);
        }
    }

    private static void Release()
    {
        GCSettings.LargeObjectHeapCompactionMode = GCLargeObjectHeapCompactionMode.CompactOnce;
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
    }
}
