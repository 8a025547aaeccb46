using System.Diagnostics;
using System.Net;
using System.Text;

namespace Bento.Runtime.Tests.Server;

/// <summary>
/// <c>./bento serve ARGS</c> as a user runs it: the launcher script (which execs the CLI, which starts the runtime), on
/// the bundled example built into a temporary BENTO_HOME. Its pid is the launcher's, so tests can signal it as a
/// supervisor would. Disposing kills whatever is left and reports nothing; tests assert on what they expect first.
/// </summary>
public sealed class LauncherServer : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly string _home;

    private LauncherServer(Process process, string home) => (_process, _home) = (process, home);

    public int Pid => _process.Id;
    public HttpClient Http { get; } = new() { Timeout = TimeSpan.FromSeconds(60) };

    /// <summary>Everything the launcher, CLI and runtime wrote to stdout and stderr so far.</summary>
    public string Output { get { lock (_output) return _output.ToString(); } }

    /// <summary>Builds the example (optionally with <paramref name="bentofile"/>) and starts <c>./bento serve</c> with
    /// <paramref name="arguments"/>, in which <c>{tag}</c> stands for the built bento's tag.</summary>
    public static async Task<LauncherServer> StartAsync(IEnumerable<string> arguments, IReadOnlyDictionary<string, string>? environment = null, string? bentofile = null)
    {
        var home = Path.Combine(Path.GetTempPath(), "bento-launcher-test-" + Guid.NewGuid().ToString("N")[..8]);
        var (store, bento) = await ExampleBento.BuildAsync(home, bentofile);

        var info = new ProcessStartInfo("bash") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        info.ArgumentList.Add(Repo.Launcher);
        info.ArgumentList.Add("serve");
        foreach (var argument in arguments) info.ArgumentList.Add(argument.Replace("{tag}", bento.Tag.ToString()));
        foreach (var key in info.Environment.Keys.Where(k => k.StartsWith("MSBuild", StringComparison.OrdinalIgnoreCase) || k.StartsWith("VSTEST", StringComparison.Ordinal)).ToList())
            info.Environment.Remove(key);
        info.Environment["BENTO_HOME"] = store.Root;
        foreach (var (key, value) in environment ?? new Dictionary<string, string>()) info.Environment[key] = value;
        var process = Process.Start(info) ?? throw new InvalidOperationException("could not start ./bento serve");
        var server = new LauncherServer(process, home);
        process.OutputDataReceived += (_, e) => server.Append(e.Data);
        process.ErrorDataReceived += (_, e) => server.Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        process.StandardInput.Close();
        return server;
    }

    private void Append(string? line)
    {
        if (line is null) return;
        lock (_output) _output.AppendLine(line);
    }

    /// <summary>Waits until <c>/ready</c> answers 200 on <paramref name="baseUri"/>.</summary>
    public async Task WaitReadyAsync(Uri baseUri, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromMinutes(3));
        while (DateTime.UtcNow < deadline)
        {
            if (_process.HasExited) throw new InvalidOperationException($"bento serve exited with {_process.ExitCode} before it was ready:\n{Output}");
            try
            {
                using var response = await Http.GetAsync(new Uri(baseUri, "/ready"));
                if (response.StatusCode == HttpStatusCode.OK) return;
            }
            catch (HttpRequestException) { }
            await Task.Delay(200);
        }
        throw new TimeoutException($"bento serve was not ready at {baseUri} in time:\n{Output}");
    }

    /// <summary>Sends a signal to the launcher's pid (what `kill -TERM PID` or a supervisor does).</summary>
    public void Signal(string name)
    {
        using var kill = Process.Start("kill", ["-" + name, Pid.ToString(System.Globalization.CultureInfo.InvariantCulture)])!;
        kill.WaitForExit();
        Assert.Equal(0, kill.ExitCode);
    }

    /// <summary>The exit code, or null when it is still running after <paramref name="timeout"/>.</summary>
    public async Task<int?> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try { await _process.WaitForExitAsync(cts.Token); }
        catch (OperationCanceledException) { return null; }
        return _process.ExitCode;
    }

    /// <summary>Processes whose command line mentions this test's store: the CLI and the runtime it started.</summary>
    public IReadOnlyList<int> ProcessesOfThisStore()
    {
        var found = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid)) continue;
            try
            {
                var commandLine = File.ReadAllText(Path.Combine(dir, "cmdline")).Replace('\0', ' ');
                if (commandLine.Contains(_home, StringComparison.Ordinal)) found.Add(pid);
            }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
        return found;
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
        foreach (var pid in ProcessesOfThisStore())
            try { Process.GetProcessById(pid).Kill(); } catch (ArgumentException) { } catch (InvalidOperationException) { }
        _process.Dispose();
        try { Directory.Delete(_home, true); } catch (IOException) { }
    }
}
