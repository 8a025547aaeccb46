using System.Text.RegularExpressions;

namespace Bento.EndToEnd.Tests.Infrastructure;

/// <summary>Assertions for the CLI contract: success, and failures as one <c>error: …</c> line with exit 1 (2 for usage).</summary>
public static class Cli
{
    public static void AssertSuccess(ProcessResult r)
    {
        Assert.False(r.TimedOut, $"timed out:\n{r}");
        Assert.True(r.ExitCode == 0, $"expected exit code 0:\n{r}");
    }

    /// <summary>Exit code <paramref name="exitCode"/>, exactly one stderr line starting with "error: " and containing every expected text (case-insensitive), no stack trace.</summary>
    public static string AssertError(ProcessResult r, int exitCode, params string[] expected) =>
        AssertErrorCore(r, exitCode, allowWarnings: false, expected);

    /// <summary>Like <see cref="AssertError"/>, but "warning: " lines may come before the error line.</summary>
    public static string AssertErrorAfterWarnings(ProcessResult r, int exitCode, params string[] expected) =>
        AssertErrorCore(r, exitCode, allowWarnings: true, expected);

    private static string AssertErrorCore(ProcessResult r, int exitCode, bool allowWarnings, string[] expected)
    {
        Assert.False(r.TimedOut, $"timed out:\n{r}");
        Assert.True(r.ExitCode == exitCode, $"expected exit code {exitCode}:\n{r}");
        AssertNoStackTrace(r);
        var lines = r.StderrLines;
        var errors = lines.Where(l => !(allowWarnings && l.StartsWith("warning: ", StringComparison.Ordinal))).ToArray();
        Assert.True(errors.Length == 1, $"expected exactly one error line on stderr, got {errors.Length}:\n{r}");
        var line = errors[0];
        Assert.True(line.StartsWith("error: ", StringComparison.Ordinal), $"the stderr line should start with 'error: ':\n{r}");
        foreach (var text in expected)
            Assert.True(line.Contains(text, StringComparison.OrdinalIgnoreCase), $"the error line should mention '{text}':\n{r}");
        return line;
    }

    public static void AssertNoStackTrace(ProcessResult r)
    {
        Assert.False(r.Stderr.Contains("   at ", StringComparison.Ordinal), $"stderr has a stack trace (only --verbose may print one):\n{r}");
        Assert.False(r.Stderr.Contains("Unhandled exception", StringComparison.Ordinal), $"the CLI crashed with an unhandled exception:\n{r}");
        Assert.False(r.Stdout.Contains("   at ", StringComparison.Ordinal), $"stdout has a stack trace:\n{r}");
    }

    /// <summary>The tag printed on the last stdout line of a successful build or import.</summary>
    public static string AssertTag(ProcessResult r, string name)
    {
        AssertSuccess(r);
        var tag = r.LastStdoutLine;
        Assert.True(Regex.IsMatch(tag, $"^{Regex.Escape(name)}:[0-9a-f]{{16}}$"), $"the last stdout line should be exactly {name}:VERSION (16 hex digits), got '{tag}':\n{r}");
        return tag;
    }
}
