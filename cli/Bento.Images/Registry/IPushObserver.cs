using Bento.Images.Oci;

namespace Bento.Images.Registry;

/// <summary>
/// What a push reports while it runs (the CLI draws one bar per blob). Called from several threads at once (blobs
/// upload in parallel); every member has an empty default.
/// </summary>
public interface IPushObserver
{
    /// <summary>The blob is being uploaded (it is neither in the repository nor mountable).</summary>
    void BlobStarted(Descriptor blob) { }

    /// <summary><paramref name="bytesSent"/> of the blob's bytes have been sent, counted from the start of the blob.
    /// It can go back when an upload has to start over.</summary>
    void BlobProgress(Descriptor blob, long bytesSent) { }

    /// <summary>The repository already has the blob; nothing was sent.</summary>
    void BlobSkipped(Descriptor blob) { }

    /// <summary>The registry linked the blob from another repository it holds; nothing was sent.</summary>
    void BlobMounted(Descriptor blob, string fromRepository) { }

    /// <summary>The registry confirmed the uploaded blob.</summary>
    void BlobDone(Descriptor blob) { }

    /// <summary>A request failed in a way worth retrying; the next attempt starts after <paramref name="delay"/>.</summary>
    void Retrying(string operation, int attempt, TimeSpan delay, string reason) { }

    /// <summary>The manifest is in place under <paramref name="reference"/>.</summary>
    void ManifestPushed(ImageReference reference, string digest) { }

    public static readonly IPushObserver None = new NullObserver();

    private sealed class NullObserver : IPushObserver { }
}

/// <summary>What a pull reports while it runs; every member has an empty default.</summary>
public interface IPullObserver
{
    void BlobStarted(Descriptor blob) { }
    void BlobProgress(Descriptor blob, long bytesReceived) { }

    /// <summary>The blob was already in the local cache; nothing was downloaded.</summary>
    void BlobCached(Descriptor blob) { }

    /// <summary>Downloaded and verified.</summary>
    void BlobDone(Descriptor blob) { }

    void Retrying(string operation, int attempt, TimeSpan delay, string reason) { }

    public static readonly IPullObserver None = new NullObserver();

    private sealed class NullObserver : IPullObserver { }
}
