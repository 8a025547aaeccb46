namespace Bento.Core.Build;

/// <summary>What a long-running store operation reports while it works (the CLI draws progress bars from it).</summary>
public interface IBuildObserver
{
    void Message(string text) { }
    void HashStarted(string file, long size) { }
    void HashProgress(string file, long bytes) { }
    void HashFinished(string file, bool fromCache) { }

    public static readonly IBuildObserver None = new NullObserver();

    private sealed class NullObserver : IBuildObserver { }
}
