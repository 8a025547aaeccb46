using Bento.Images.Build;
using Bento.Images.Registry;

namespace Bento.Cli.Output;

/// <summary>The containerize pipeline's progress on stderr: lines as they come, transfers with <see cref="TransferProgress"/>.</summary>
public sealed class ConsoleContainerizeProgress : IContainerizeProgress
{
    public void Log(string line) => Console.Error.WriteLine(line);

    public Task<T> PullAsync<T>(Func<IPullObserver?, Task<T>> pull) => TransferProgress.RunAsync<T>(observer => pull(observer));

    public Task<T> PushAsync<T>(Func<IPushObserver?, Task<T>> push) => TransferProgress.RunAsync<T>(observer => push(observer));
}
