using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Bento.Images.Tests.Registry;

/// <summary>How a test registry authenticates.</summary>
public enum RegistryAuth { Anonymous, Htpasswd, Token }

/// <summary>
/// A real registry for a test class: Debian's <c>docker-registry</c> (distribution 2.8) on 127.0.0.1 and a free port,
/// storing into a temporary directory, optionally with htpasswd Basic auth, token auth or TLS. Stopped and removed on
/// dispose. Needs the apt packages docker-registry and apache2-utils (htpasswd).
/// </summary>
public sealed class RegistryServer : IDisposable
{
    public const string Binary = "/usr/bin/docker-registry";
    public const string User = "tester";
    public const string Password = "s3cret-pass";

    private readonly Process _process;
    private readonly string _dir;

    public RegistryServer(RegistryAuth auth = RegistryAuth.Anonymous, bool relativeUrls = false, bool tls = false, TokenServer? tokenServer = null)
    {
        if (!File.Exists(Binary))
            throw new InvalidOperationException($"{Binary} is missing: install the apt package docker-registry (tests/run.sh does)");
        _dir = Path.Combine(Path.GetTempPath(), "bento-registry-" + Guid.NewGuid().ToString("N")[..10]);
        Directory.CreateDirectory(_dir);
        Port = FreeTcpPort.Pick();
        Host = $"127.0.0.1:{Port}";

        var config = new StringBuilder($"""
            version: 0.1
            log:
              level: warn
              accesslog:
                disabled: true
            storage:
              filesystem:
                rootdirectory: {_dir}/data
              delete:
                enabled: true
              maintenance:
                uploadpurging:
                  enabled: false
            http:
              addr: {Host}
              secret: bento-test-secret
              relativeurls: {(relativeUrls ? "true" : "false")}

            """);
        if (tls)
        {
            var (cert, key) = TestCertificates.WriteSelfSigned(_dir, "registry", "127.0.0.1");
            config.Append($"""
                  tls:
                    certificate: {cert}
                    key: {key}

                """);
        }
        if (auth == RegistryAuth.Htpasswd)
        {
            File.WriteAllText(Path.Combine(_dir, "htpasswd"), Htpasswd(User, Password));
            config.Append($"""
                auth:
                  htpasswd:
                    realm: bento-test
                    path: {_dir}/htpasswd

                """);
        }
        else if (auth == RegistryAuth.Token)
        {
            var server = tokenServer ?? throw new ArgumentNullException(nameof(tokenServer));
            config.Append($"""
                auth:
                  token:
                    realm: {server.Realm}
                    service: {TokenServer.Service}
                    issuer: {TokenServer.Issuer}
                    rootcertbundle: {server.CertificatePath}

                """);
        }
        var configPath = Path.Combine(_dir, "config.yml");
        File.WriteAllText(configPath, config.ToString());

        LogPath = Path.Combine(_dir, "registry.log");
        var start = new ProcessStartInfo(Binary, ["serve", configPath])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        _process = Process.Start(start)!;
        var log = new StreamWriter(LogPath) { AutoFlush = true };
        _process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (log) log.WriteLine(e.Data); };
        _process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (log) log.WriteLine(e.Data); };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        WaitUntilReady(tls);
    }

    public int Port { get; }

    /// <summary>host:port as references and the insecure list use it.</summary>
    public string Host { get; }

    public string LogPath { get; }

    public string Log() { try { return File.ReadAllText(LogPath); } catch (IOException) { return ""; } }

    /// <summary>A bcrypt htpasswd line from apache2-utils' htpasswd.</summary>
    public static string Htpasswd(string user, string password)
    {
        var run = Tools.Run("htpasswd", ["-Bbn", user, password]);
        if (run.ExitCode != 0) throw new InvalidOperationException($"htpasswd failed (install apache2-utils): {run.Output}");
        return run.Output.Trim() + "\n";
    }

    private void WaitUntilReady(bool tls)
    {
        using var handler = new HttpClientHandler { ServerCertificateCustomValidationCallback = (_, _, _, _) => true };
        using var http = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (DateTime.UtcNow < deadline)
        {
            if (_process.HasExited) throw new InvalidOperationException($"docker-registry exited ({_process.ExitCode}): {Log()}");
            try
            {
                using var response = http.GetAsync($"{(tls ? "https" : "http")}://{Host}/v2/").GetAwaiter().GetResult();
                return;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException) { Thread.Sleep(100); }
        }
        throw new InvalidOperationException($"docker-registry did not start on {Host}: {Log()}");
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill();
                _process.WaitForExit(5000);
            }
        }
        catch (InvalidOperationException) { }
        _process.Dispose();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}

/// <summary>Runs the independent tools the tests check against (skopeo, htpasswd).</summary>
public static class Tools
{
    public sealed record Result(int ExitCode, string Output, string Error)
    {
        public string All => Output + Error;
    }

    public static Result Run(string program, IEnumerable<string> args, string? stdin = null, IDictionary<string, string>? env = null, int timeoutMs = 120_000)
    {
        var r = ProcessRunner.RunAsync(program, args, Environment.CurrentDirectory, env?.ToDictionary(e => e.Key, e => (string?)e.Value),
            TimeSpan.FromMilliseconds(timeoutMs), stdin).GetAwaiter().GetResult();
        if (r.TimedOut) throw new TimeoutException($"{r.CommandLine} did not finish");
        return new Result(r.ExitCode, r.Stdout, r.Stderr);
    }

    /// <summary>skopeo with TLS verification off (the test registries are plain http on 127.0.0.1).</summary>
    public static Result Skopeo(params string[] args) => Run("skopeo", args);
}
