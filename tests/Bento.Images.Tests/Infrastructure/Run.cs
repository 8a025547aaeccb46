using System.Diagnostics;
using System.Text;

namespace Bento.Images.Tests.Infrastructure;

/// <summary>What a child process did.</summary>
public sealed record RunResult(string CommandLine, int ExitCode, string Stdout, string Stderr, bool TimedOut, TimeSpan Elapsed)
{
    public string LastStdoutLine => Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.TrimEnd('\r')).LastOrDefault() ?? "";

    public string[] StderrLines => Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries)
        .Where(l => !l.StartsWith("bento: building", StringComparison.Ordinal)).ToArray();

    public override string ToString() =>
        $"$ {CommandLine}\n{(TimedOut ? "TIMED OUT" : $"exit {ExitCode}")} after {Elapsed.TotalSeconds:0.0} s\n--- stdout ---\n{Tail(Stdout)}\n--- stderr ---\n{Tail(Stderr)}";

    private static string Tail(string s) => s.Length <= 8000 ? s : "[...]\n" + s[^8000..];
}

/// <summary>Runs child processes (stdin closed, both outputs captured, killed with their tree on timeout).</summary>
public static class Run
{
    public static async Task<RunResult> ProcessAsync(string file, IEnumerable<string> args, string? workingDirectory = null,
        IReadOnlyDictionary<string, string?>? environment = null, TimeSpan? timeout = null)
    {
        var list = args.ToList();
        var info = new ProcessStartInfo(file)
        {
            WorkingDirectory = workingDirectory ?? Path.GetTempPath(),
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        foreach (var a in list) info.ArgumentList.Add(a);
        // `dotnet test` exports MSBuild variables; a child build must not inherit them.
        foreach (var key in info.Environment.Keys.Where(k => k.StartsWith("MSBuild", StringComparison.OrdinalIgnoreCase) || k.StartsWith("VSTEST_", StringComparison.Ordinal)).ToList())
            info.Environment.Remove(key);
        if (environment is not null)
            foreach (var (k, v) in environment)
                if (v is null) info.Environment.Remove(k);
                else info.Environment[k] = v;
        var commandLine = string.Join(' ', new[] { file }.Concat(list));
        var watch = Stopwatch.StartNew();
        using var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {commandLine}");
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        var timedOut = false;
        using (var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromMinutes(5)))
        {
            try { await process.WaitForExitAsync(cts.Token); }
            catch (OperationCanceledException)
            {
                timedOut = true;
                try { process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
                await process.WaitForExitAsync();
            }
        }
        return new RunResult(commandLine, timedOut ? -1 : process.ExitCode, await stdout, await stderr, timedOut, watch.Elapsed);
    }

    /// <summary>Runs a command that must succeed.</summary>
    public static async Task<RunResult> CheckedAsync(string file, params string[] args)
    {
        var r = await ProcessAsync(file, args);
        Assert.True(r.ExitCode == 0, r.ToString());
        return r;
    }

    /// <summary>The tool's path, or a failure saying which apt package provides it (tests/run.sh installs them).</summary>
    public static string Tool(string name, string package)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Concat(["/usr/sbin", "/sbin"]))
        {
            var candidate = Path.Combine(dir, name);
            if (File.Exists(candidate)) return candidate;
        }
        throw new Xunit.Sdk.XunitException($"{name} is not installed; these tests need it: apt-get install {package} (tests/run.sh installs it)");
    }
}
