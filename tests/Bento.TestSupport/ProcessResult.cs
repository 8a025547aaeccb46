using System.Text;

namespace Bento.TestSupport;

/// <summary>What a child process did: exit code, both streams in full, and whether it had to be killed.</summary>
public sealed record ProcessResult(string CommandLine, int ExitCode, string Stdout, string Stderr, bool TimedOut, TimeSpan Elapsed)
{
    /// <summary>Non-empty stdout lines (without '\r').</summary>
    public string[] StdoutLines => Lines(Stdout);

    /// <summary>
    /// Non-empty stderr lines, without the launcher's own "bento: building the CLI/runtime" notices: whether
    /// <c>./bento</c> rebuilds first depends on the machine, not on the command under test.
    /// </summary>
    public string[] StderrLines => Lines(Stderr).Where(l => !l.StartsWith("bento: building", StringComparison.Ordinal)).ToArray();

    public string LastStdoutLine => StdoutLines.LastOrDefault() ?? "";

    private static string[] Lines(string text) =>
        text.Split('\n').Select(l => l.TrimEnd('\r')).Where(l => l.Length > 0).ToArray();

    /// <summary>Everything needed to understand a failed assertion: the command, how it ended, and both outputs.</summary>
    public override string ToString()
    {
        var sb = new StringBuilder();
        sb.Append($"$ {CommandLine}\n");
        sb.Append(TimedOut ? $"(killed after {Elapsed.TotalSeconds:F0} s: timed out)\n" : $"exit code {ExitCode} after {Elapsed.TotalSeconds:F1} s\n");
        sb.Append($"--- stdout ---\n{Truncate(Stdout)}\n--- stderr ---\n{Truncate(Stderr)}");
        return sb.ToString();
    }

    // Head and tail: the command's first lines say what it was doing, the last ones why it stopped.
    private static string Truncate(string s) => s.Length <= 8000 ? s : s[..3000] + "\n[...]\n" + s[^5000..];
}
