using System.Collections.Concurrent;
using Bento.Core.Build;
using Spectre.Console;

namespace Bento.Cli.Output;

/// <summary>
/// Progress bars on stderr, one per file being hashed. Only used when stderr is a terminal, so scripts that capture
/// output see plain lines.
/// </summary>
public sealed class ProgressBars : IBuildObserver
{
    private readonly ProgressContext _context;
    private readonly ConcurrentDictionary<string, ProgressTask> _tasks = new();

    private ProgressBars(ProgressContext context) => _context = context;

    public static bool Enabled => !Console.IsErrorRedirected;

    public static async Task<T> RunAsync<T>(Func<IBuildObserver, Task<T>> work)
    {
        if (!Enabled) return await work(new PlainObserver());
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        return await console.Progress()
            .AutoClear(true)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new TransferSpeedColumn(), new RemainingTimeColumn())
            .StartAsync(ctx => work(new ProgressBars(ctx)));
    }

    public void Message(string text) => Console.Error.WriteLine(text);

    public void HashStarted(string file, long size) =>
        _tasks[file] = _context.AddTask(Markup.Escape(file), maxValue: Math.Max(size, 1));

    public void HashProgress(string file, long bytes)
    {
        if (_tasks.TryGetValue(file, out var task)) task.Increment(bytes);
    }

    public void HashFinished(string file, bool fromCache)
    {
        if (_tasks.TryGetValue(file, out var task)) task.Value = task.MaxValue;
    }

    /// <summary>Without a terminal: only messages, no bars.</summary>
    private sealed class PlainObserver : IBuildObserver
    {
        public void Message(string text) => Console.Error.WriteLine(text);
    }
}
