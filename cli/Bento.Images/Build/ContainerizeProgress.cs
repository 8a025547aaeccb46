using Bento.Images.Registry;

namespace Bento.Images.Build;

/// <summary>What the containerize pipeline tells its caller while it runs: lines, and observers for registry transfers.</summary>
public interface IContainerizeProgress
{
    void Log(string line);

    /// <summary>Runs a base-image pull with an observer (progress bars on a terminal, say).</summary>
    Task<T> PullAsync<T>(Func<IPullObserver?, Task<T>> pull);

    /// <summary>Runs a push with an observer.</summary>
    Task<T> PushAsync<T>(Func<IPushObserver?, Task<T>> push);
}

/// <summary>Lines to a delegate (or nowhere), transfers without observers: for tests and library callers.</summary>
public sealed class LineProgress(Action<string>? log = null) : IContainerizeProgress
{
    public void Log(string line) => log?.Invoke(line);

    public Task<T> PullAsync<T>(Func<IPullObserver?, Task<T>> pull) => pull(null);

    public Task<T> PushAsync<T>(Func<IPushObserver?, Task<T>> push) => push(null);
}
