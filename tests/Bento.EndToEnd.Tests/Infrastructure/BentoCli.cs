namespace Bento.EndToEnd.Tests.Infrastructure;

/// <summary>How to run one <c>./bento</c> command.</summary>
public sealed record CliOptions
{
    /// <summary>BENTO_HOME for the child.</summary>
    public required string Home { get; init; }

    public required string WorkingDirectory { get; init; }

    public TimeSpan Timeout { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>Run as this user through <c>runuser -u USER -- env HOME=… DOTNET_CLI_HOME=…</c>.</summary>
    public string? RunAsUser { get; init; }

    /// <summary>HOME and DOTNET_CLI_HOME for <see cref="RunAsUser"/>: a folder that user can write.</summary>
    public string? UserHome { get; init; }

    /// <summary>Extra environment variables (null removes one).</summary>
    public IReadOnlyDictionary<string, string?> Environment { get; init; } = new Dictionary<string, string?>();
}

/// <summary>
/// Runs the real launcher script as a child process. The CLI is built once per test run (<see cref="EnsureBuilt"/>)
/// so that parallel tests never race the launcher's first-use build.
/// </summary>
public static class BentoCli
{
    private static readonly Lazy<ProcessResult> Build = new(() =>
        Task.Run(() => RunAsync(["--version"], new CliOptions
        {
            Home = Path.Combine(Path.GetTempPath(), $"bento-e2e-unused-home-{System.Environment.ProcessId}"),
            WorkingDirectory = Path.GetTempPath(),
            Timeout = TimeSpan.FromMinutes(10),
        })).GetAwaiter().GetResult(), LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>Builds the CLI through the launcher (<c>./bento --version</c>) the first time it is called; later calls return at once.</summary>
    public static ProcessResult EnsureBuilt()
    {
        var result = Build.Value;
        if (result.TimedOut || result.ExitCode != 0 || !System.Text.RegularExpressions.Regex.IsMatch(result.LastStdoutLine, @"^\d+\.\d+\.\d+"))
            throw new InvalidOperationException($"building the CLI through ./bento --version failed:\n{result}");
        return result;
    }

    /// <summary>
    /// Runs <c>./bento ARGS</c> under GNU time (the <c>time</c> package tests/run.sh installs) and returns its peak
    /// resident memory as well: the launcher execs the CLI, so that is the CLI's own peak.
    /// </summary>
    public static async Task<(ProcessResult Result, long PeakRssBytes)> RunMeasuredAsync(IEnumerable<string> args, CliOptions options)
    {
        var report = Path.Combine(Path.GetTempPath(), $"bento-rss-{Guid.NewGuid():N}");
        try
        {
            var result = await ProcessRunner.RunAsync("/usr/bin/time", ["-f", "%M", "-o", report, Repo.Launcher, .. args],
                options.WorkingDirectory, ChildEnvironment(options), options.Timeout);
            // The last line is the peak in KiB ("Command terminated by signal N" may come before it).
            // Nothing numeric when time itself was killed (the command timed out): -1.
            var last = File.Exists(report) ? File.ReadAllLines(report).LastOrDefault(l => l.Trim().Length > 0)?.Trim() : null;
            return (result, long.TryParse(last, out var kib) ? kib * 1024 : -1);
        }
        finally
        {
            File.Delete(report);
        }
    }

    public static Task<ProcessResult> RunAsync(IEnumerable<string> args, CliOptions options)
    {
        var env = ChildEnvironment(options);
        if (options.RunAsUser is null)
            return ProcessRunner.RunAsync(Repo.Launcher, args, options.WorkingDirectory, env, options.Timeout);

        var userHome = options.UserHome ?? throw new ArgumentException("UserHome is required with RunAsUser");
        var wrapped = new List<string> { "-u", options.RunAsUser, "--", "env", $"HOME={userHome}", $"DOTNET_CLI_HOME={userHome}", $"BENTO_HOME={options.Home}", Repo.Launcher };
        wrapped.AddRange(args);
        return ProcessRunner.RunAsync("runuser", wrapped, options.WorkingDirectory, env, options.Timeout);
    }

    private static Dictionary<string, string?> ChildEnvironment(CliOptions options)
    {
        var env = new Dictionary<string, string?>
        {
            ["BENTO_HOME"] = options.Home,
            ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1",
            ["DOTNET_NOLOGO"] = "1",
            ["DOTNET_SKIP_FIRST_TIME_EXPERIENCE"] = "1",
            ["SOURCE_DATE_EPOCH"] = null,
            ["NO_COLOR"] = null,
        };
        // (ProcessRunner strips the MSBuild*/VSTEST_ variables `dotnet test` exports, so a launcher rebuild inside a test does not inherit them.)
        foreach (var (key, value) in options.Environment) env[key] = value;
        return env;
    }
}
