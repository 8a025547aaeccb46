namespace Bento.Images.Registry;

/// <summary>Counters a client keeps across all its requests (tests and the benchmark read them). Thread-safe.</summary>
public sealed class TransferStats
{
    private long _requests, _bytesSent, _bytesReceived, _retries, _resumes, _restarts, _chunks;
    private long _uploaded, _skipped, _mounted, _downloaded, _cached;

    /// <summary>HTTP requests sent, token requests included (redirects followed inside one request are not counted).</summary>
    public long Requests => Interlocked.Read(ref _requests);

    /// <summary>Request body bytes actually written to the network (blobs, chunks, manifests, token forms).</summary>
    public long BytesSent => Interlocked.Read(ref _bytesSent);

    /// <summary>Response body bytes read for manifests and blobs.</summary>
    public long BytesReceived => Interlocked.Read(ref _bytesReceived);

    public long Retries => Interlocked.Read(ref _retries);

    /// <summary>Uploads continued from the offset the registry reported after a failure.</summary>
    public long Resumes => Interlocked.Read(ref _resumes);

    /// <summary>Uploads begun again in a new session because the registry had lost the old one.</summary>
    public long Restarts => Interlocked.Read(ref _restarts);

    public long ChunksSent => Interlocked.Read(ref _chunks);
    public long BlobsUploaded => Interlocked.Read(ref _uploaded);
    public long BlobsSkipped => Interlocked.Read(ref _skipped);
    public long BlobsMounted => Interlocked.Read(ref _mounted);
    public long BlobsDownloaded => Interlocked.Read(ref _downloaded);
    public long BlobsFromCache => Interlocked.Read(ref _cached);

    internal void Request() => Interlocked.Increment(ref _requests);
    internal void Sent(long bytes) => Interlocked.Add(ref _bytesSent, bytes);
    internal void Received(long bytes) => Interlocked.Add(ref _bytesReceived, bytes);
    internal void Retry() => Interlocked.Increment(ref _retries);
    internal void Resume() => Interlocked.Increment(ref _resumes);
    internal void Restart() => Interlocked.Increment(ref _restarts);
    internal void Chunk() => Interlocked.Increment(ref _chunks);
    internal void Uploaded() => Interlocked.Increment(ref _uploaded);
    internal void Skipped() => Interlocked.Increment(ref _skipped);
    internal void Mounted() => Interlocked.Increment(ref _mounted);
    internal void Downloaded() => Interlocked.Increment(ref _downloaded);
    internal void FromCache() => Interlocked.Increment(ref _cached);

    /// <summary>A copy of the counters now; subtract two to get what one operation did.</summary>
    public TransferSnapshot Snapshot() => new(Requests, BytesSent, BytesReceived, Retries, Resumes, Restarts, ChunksSent,
        BlobsUploaded, BlobsSkipped, BlobsMounted, BlobsDownloaded, BlobsFromCache);
}

public sealed record TransferSnapshot(long Requests, long BytesSent, long BytesReceived, long Retries, long Resumes, long Restarts,
    long ChunksSent, long BlobsUploaded, long BlobsSkipped, long BlobsMounted, long BlobsDownloaded, long BlobsFromCache)
{
    public static TransferSnapshot operator -(TransferSnapshot a, TransferSnapshot b) => new(
        a.Requests - b.Requests, a.BytesSent - b.BytesSent, a.BytesReceived - b.BytesReceived, a.Retries - b.Retries,
        a.Resumes - b.Resumes, a.Restarts - b.Restarts, a.ChunksSent - b.ChunksSent, a.BlobsUploaded - b.BlobsUploaded,
        a.BlobsSkipped - b.BlobsSkipped, a.BlobsMounted - b.BlobsMounted, a.BlobsDownloaded - b.BlobsDownloaded,
        a.BlobsFromCache - b.BlobsFromCache);
}
