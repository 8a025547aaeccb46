using System.Diagnostics;
using System.Text;

namespace Bento.TestSupport;

/// <summary>
/// Runs a child process to completion with both outputs captured. Stdin is redirected and closed at once (or fed the
/// given text first), so the child never sees a terminal and never waits for input. On timeout the whole process tree
/// is killed (the launcher and <c>runuser</c> start grandchildren) and the result says so instead of throwing, so the
/// test's assertion prints what the command had written.
/// </summary>
public static class ProcessRunner
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromMinutes(5);

    /// <param name="workingDirectory">default: the system temp folder, never the repository.</param>
    /// <param name="environment">variables to set; a null value removes one.</param>
    /// <param name="stdin">text written to the child's stdin before it is closed.</param>
    public static async Task<ProcessResult> RunAsync(
        string fileName,
        IEnumerable<string> arguments,
        string? workingDirectory = null,
        IReadOnlyDictionary<string, string?>? environment = null,
        TimeSpan? timeout = null,
        string? stdin = null)
    {
        var args = arguments.ToList();
        var info = new ProcessStartInfo(fileName)
        {
            WorkingDirectory = workingDirectory ?? Path.GetTempPath(),
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        foreach (var a in args) info.ArgumentList.Add(a);
        // `dotnet test` exports MSBuild* and VSTEST_* variables; a child that builds (the ./bento launcher's first-use
        // build, dotnet tools) must not inherit them, or MSBuild picks up the test host's settings.
        foreach (var key in info.Environment.Keys.Where(IsTestHostVariable).ToList())
            info.Environment.Remove(key);
        if (environment is not null)
            foreach (var (key, value) in environment)
            {
                if (value is null) info.Environment.Remove(key);
                else info.Environment[key] = value;
            }

        var commandLine = string.Join(' ', new[] { fileName }.Concat(args).Select(Quote));
        var watch = Stopwatch.StartNew();
        using var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {commandLine}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        try
        {
            if (stdin is not null) await process.StandardInput.WriteAsync(stdin).ConfigureAwait(false);
        }
        catch (IOException) { } // the child exited without reading its input; its exit code tells the story
        process.StandardInput.Close();

        var timedOut = false;
        using (var cts = new CancellationTokenSource(timeout ?? DefaultTimeout))
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

    private static bool IsTestHostVariable(string name) =>
        name.StartsWith("MSBuild", StringComparison.OrdinalIgnoreCase) || name.StartsWith("VSTEST_", StringComparison.Ordinal);

    // Shell quoting, so a failed test's "$ command" line can be pasted into a terminal as is.
    private static string Quote(string s) =>
        s.Length > 0 && s.All(c => char.IsAsciiLetterOrDigit(c) || "-_./:=@,+".Contains(c)) ? s : "'" + s.Replace("'", "'\\''") + "'";
}
