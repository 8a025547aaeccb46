using Bento.Core.IO;

namespace Bento.Runtime.Server;

/// <summary>
/// <c>bento serve</c> starts the runtime as its child and passes its own pid with <see cref="Flag"/>. Signals are
/// forwarded by the CLI, but a CLI killed with SIGKILL cannot forward anything; then the runtime would be re-parented
/// and run on unsupervised, holding the port and the model's memory. The watch notices the new parent and stops the
/// server the normal way (draining).
/// </summary>
public static class ParentWatch
{
    public const string Flag = "--parent-pid";

    /// <summary>Takes <c>--parent-pid N</c> out of the arguments.</summary>
    public static (int? ParentPid, List<string> Others) TakeFlag(IReadOnlyList<string> args)
    {
        int? pid = null;
        var rest = new List<string>();
        for (var i = 0; i < args.Count; i++)
        {
            if (args[i] == Flag && i + 1 < args.Count && int.TryParse(args[i + 1], out var value) && value > 0) { pid = value; i++; }
            else rest.Add(args[i]);
        }
        return (pid, rest);
    }

    public static void StopWhenGone(int parentPid, IHostApplicationLifetime lifetime, ILogger log)
    {
        if (Posix.ParentProcessId() != parentPid)
        {
            log.LogWarning("{Flag} {Pid} is not this process's parent; not watching it", Flag, parentPid);
            return;
        }
        _ = WatchAsync(parentPid, lifetime, log);
    }

    private static async Task WatchAsync(int parentPid, IHostApplicationLifetime lifetime, ILogger log)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(500));
        try
        {
            while (await timer.WaitForNextTickAsync(lifetime.ApplicationStopping))
            {
                if (Posix.ParentProcessId() == parentPid) continue;
                log.LogWarning("bento serve (pid {Pid}) is gone; stopping", parentPid);
                lifetime.StopApplication();
                return;
            }
        }
        catch (OperationCanceledException) { }
    }
}
