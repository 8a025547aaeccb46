using System.Diagnostics;
using System.Text.Json;

namespace Bento.Images.Registry.Auth;

/// <summary>
/// Runs docker's credential-helper protocol: <c>docker-credential-NAME get</c> with the server URL on stdin, answering
/// <c>{"ServerURL","Username","Secret"}</c> on stdout (or "credentials not found" and a non-zero exit).
/// </summary>
internal static class CredentialHelper
{
    /// <summary>The key docker uses for Docker Hub in config files and helpers.</summary>
    public const string DockerHubServerUrl = "https://index.docker.io/v1/";

    public static string ServerUrl(string registry) => registry == ImageReference.DockerHubRegistry ? DockerHubServerUrl : registry;

    /// <summary>Null when the helper has no credentials for the registry; an error (without any secret) when it fails.</summary>
    public static RegistryCredential? Get(string helper, string registry, string? searchPath, TimeSpan timeout, string source)
    {
        var program = "docker-credential-" + helper;
        var executable = Find(program, searchPath ?? Environment.GetEnvironmentVariable("PATH") ?? "")
            ?? throw new RegistryException($"cannot get credentials for {registry}: {source} names the helper '{helper}' but '{program}' is not on PATH");
        var start = new ProcessStartInfo(executable, "get")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        using var process = Process.Start(start) ?? throw new RegistryException($"cannot start '{executable}'");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        try
        {
            process.StandardInput.Write(ServerUrl(registry));
            process.StandardInput.Close();
        }
        catch (IOException) { /* the helper exited without reading; its exit code says why */ }
        if (!process.WaitForExit(timeout))
        {
            try { process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            throw new RegistryException($"cannot get credentials for {registry}: '{program} get' did not answer within {timeout.TotalSeconds:0} s");
        }
        var output = stdout.GetAwaiter().GetResult();
        var error = stderr.GetAwaiter().GetResult();
        if (process.ExitCode != 0)
        {
            var said = (output + "\n" + error).Trim();
            if (said.Contains("credentials not found", StringComparison.OrdinalIgnoreCase)) return null;
            // Quote the helper's complaint (stderr first), but never a line that may carry a secret: its JSON answer.
            var firstLine = (error.Trim().Length > 0 ? error : output).Trim().Split('\n')[0].Trim();
            if (firstLine.StartsWith('{') || firstLine.Contains("Secret", StringComparison.OrdinalIgnoreCase)) firstLine = "";
            if (firstLine.Length > 200) firstLine = firstLine[..200];
            throw new RegistryException($"cannot get credentials for {registry}: '{program} get' failed (exit {process.ExitCode}{(firstLine.Length > 0 ? ": " + firstLine : "")})");
        }
        try
        {
            using var doc = JsonDocument.Parse(output);
            var user = doc.RootElement.TryGetProperty("Username", out var u) ? u.GetString() : null;
            var secret = doc.RootElement.TryGetProperty("Secret", out var s) ? s.GetString() : null;
            if (string.IsNullOrEmpty(secret)) return null;
            return new RegistryCredential(user ?? "", secret, source);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            // Never echo the output: it may hold the secret.
            throw new RegistryException($"cannot get credentials for {registry}: '{program} get' printed something that is not the expected JSON");
        }
    }

    private static string? Find(string program, string searchPath)
    {
        foreach (var dir in searchPath.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, program);
            if (File.Exists(candidate)) return candidate;
        }
        return null;
    }
}
