using System.Diagnostics;
using System.Text;

namespace Bento.EndToEnd.Tests.Infrastructure;

/// <summary>What a child process did: exit code, both streams in full, and whether it had to be killed.</summary>
public sealed record ProcessResult(string CommandLine, int ExitCode, string Stdout, string Stderr, bool TimedOut, TimeSpan Elapsed)
{
    public string[] StdoutLines => Lines(Stdout);

    /// <summary>Non-empty stderr lines, without the launcher's own "bento: building the CLI" notice.</summary>
    public string[] StderrLines => Lines(Stderr).Where(l => !l.StartsWith("bento: building the CLI", StringComparison.Ordinal)).ToArray();

    public string LastStdoutLine => StdoutLines.LastOrDefault() ?? "";

    private static string[] Lines(string text) =>
        text.Split('\n').Select(l => l.TrimEnd('\r')).Where(l => l.Length > 0).ToArray();

    /// <summary>Everything needed to understand a failed assertion.</summary>
    public override string ToString()
    {
        var sb = new StringBuilder();
        sb.Append($"$ {CommandLine}\n");
        sb.Append(TimedOut ? $"(killed after {Elapsed.TotalSeconds:F0} s: timed out)\n" : $"exit code {ExitCode} after {Elapsed.TotalSeconds:F1} s\n");
        sb.Append($"--- stdout ---\n{Truncate(Stdout)}\n--- stderr ---\n{Truncate(Stderr)}");
        return sb.ToString();
    }

    private static string Truncate(string s) => s.Length <= 6000 ? s : s[..3000] + "\n[...]\n" + s[^3000..];
}

/// <summary>Starts a process with stdin redirected (and closed at once, so it is not a terminal) and both outputs captured.</summary>
public static class ProcessRunner
{
    public static async Task<ProcessResult> RunAsync(
        string fileName,
        IEnumerable<string> arguments,
        string workingDirectory,
        IReadOnlyDictionary<string, string?>? environment = null,
        TimeSpan? timeout = null)
    {
        var args = arguments.ToList();
        var info = new ProcessStartInfo(fileName)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        foreach (var a in args) info.ArgumentList.Add(a);
        if (environment is not null)
            foreach (var (key, value) in environment)
            {
                if (value is null) info.Environment.Remove(key);
                else info.Environment[key] = value;
            }

        var commandLine = string.Join(' ', new[] { fileName }.Concat(args).Select(Quote));
        var watch = Stopwatch.StartNew();
        using var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {commandLine}");
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();

        var timedOut = false;
        using (var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromMinutes(2)))
        {
            try
            {
                await process.WaitForExitAsync(cts.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                timedOut = true;
                try { process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
                await process.WaitForExitAsync().ConfigureAwait(false);
            }
        }
        var outText = await stdout.ConfigureAwait(false);
        var errText = await stderr.ConfigureAwait(false);
        return new ProcessResult(commandLine, timedOut ? -1 : process.ExitCode, outText, errText, timedOut, watch.Elapsed);
    }

    private static string Quote(string s) =>
        s.Length > 0 && s.All(c => char.IsAsciiLetterOrDigit(c) || "-_./:=@,+".Contains(c)) ? s : "'" + s.Replace("'", "'\\''") + "'";
}
