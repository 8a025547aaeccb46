using System.Diagnostics;

namespace Bento.Images.Tests.Infrastructure;

/// <summary>
/// A private Docker engine for one test class (Debian's docker.io): its own socket, data and exec roots in a temp
/// directory, no iptables or bridge (containers use --network host), vfs storage (works on any file system, inside
/// containers too). Started as root; stopped and removed on dispose.
/// </summary>
public sealed class Dockerd : IAsyncDisposable
{
    private readonly Process _process;

    private Dockerd(Process process, string root)
    {
        _process = process;
        Root = root;
    }

    public string Root { get; }

    public string Socket => Path.Combine(Root, "docker.sock");

    public string Host => $"unix://{Socket}";

    public static async Task<Dockerd> StartAsync()
    {
        var dockerd = HostTools.Require("dockerd", "docker.io");
        // A short path: unix socket paths are limited to 107 bytes.
        var root = Path.Combine("/tmp", "bento-dockerd-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(root);
        var info = new ProcessStartInfo(dockerd)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var a in new[]
                 {
                     "--iptables=false", "--ip6tables=false", "--bridge=none", "--storage-driver=vfs", "-H", $"unix://{root}/docker.sock",
                     "--data-root", $"{root}/data", "--exec-root", $"{root}/exec", "--pidfile", $"{root}/docker.pid",
                 })
            info.ArgumentList.Add(a);
        var process = Process.Start(info)!;
        var log = new System.Text.StringBuilder();
        process.OutputDataReceived += (_, e) => { lock (log) log.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { lock (log) log.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var engine = new Dockerd(process, root);
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(2);
        while (true)
        {
            if (process.HasExited) throw new InvalidOperationException($"dockerd exited with {process.ExitCode}:\n{log}");
            var r = await engine.DockerAsync(["version", "--format", "{{.Server.Version}}"], TimeSpan.FromSeconds(10));
            if (r.ExitCode == 0) return engine;
            if (DateTime.UtcNow > deadline)
            {
                await engine.DisposeAsync();
                throw new InvalidOperationException($"dockerd did not answer within 2 minutes:\n{log}");
            }
            await Task.Delay(500);
        }
    }

    public Task<ProcessResult> DockerAsync(IEnumerable<string> args, TimeSpan? timeout = null) =>
        ProcessRunner.RunAsync(HostTools.Require("docker", "docker.io"), new[] { "-H", Host }.Concat(args), environment: new Dictionary<string, string?> { ["DOCKER_HOST"] = null }, timeout: timeout ?? TimeSpan.FromMinutes(5));

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                // SIGTERM lets dockerd stop its containers and containerd; kill whatever is left after a grace period.
                await ProcessRunner.RunAsync("kill", ["-TERM", _process.Id.ToString()]);
                using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                try { await _process.WaitForExitAsync(grace.Token); }
                catch (OperationCanceledException) { _process.Kill(entireProcessTree: true); }
            }
        }
        finally
        {
            _process.Dispose();
            // dockerd leaves mounts behind (its data root bound on itself, the netns file): detach them, deepest first.
            var mounts = File.ReadAllLines("/proc/self/mountinfo").Select(l => l.Split(' ')[4])
                .Where(m => m.StartsWith(Root + "/", StringComparison.Ordinal)).OrderByDescending(m => m.Length).ToList();
            foreach (var mount in mounts) await ProcessRunner.RunAsync("umount", ["-l", mount]);
            try { Directory.Delete(Root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }
}
