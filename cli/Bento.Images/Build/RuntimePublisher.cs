using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using Bento.Core;
using Bento.Core.Store;

namespace Bento.Images.Build;

/// <summary>
/// The runtime program an image runs: <c>dotnet publish runtime/Bento.Runtime -r linux-x64 --self-contained</c> (no
/// .NET needed in the base image), published once per distinct input and cached:
/// <code>
///   $BENTO_RUNTIME_CACHE (default $BENTO_HOME/cache/runtime)/KEY/publish/
/// </code>
/// KEY hashes everything the output depends on: the runtime's and Bento.Core's sources, the repository-wide build
/// files, the SDK version and the RID. The publish itself is byte-stable (Deterministic, ContinuousIntegrationBuild, no
/// PDBs, and a PathMap for the repository and the build folder: the Regex source generator names types after file
/// paths), so two machines with the same sources and SDK publish the same bytes; the cache makes it cheap and keeps
/// images reproducible run after run even where a publish is not (another SDK patch, a restored package that differs).
/// </summary>
public sealed class RuntimePublisher(string cacheRoot, Action<string>? log = null)
{
    public const string ProjectRelativePath = "runtime/Bento.Runtime/Bento.Runtime.csproj";

    /// <summary>Files at the repository root that change every project's build.</summary>
    private static readonly string[] RootInputs = ["Directory.Build.props", "Directory.Packages.props", "global.json", "NuGet.config", "nuget.config"];

    /// <summary>Source folders the runtime is built from (it references Bento.Core only).</summary>
    private static readonly string[] SourceInputs = ["runtime/Bento.Runtime", "cli/Bento.Core", "templates"];

    public string CacheRoot { get; } = Path.GetFullPath(cacheRoot);

    public static string DefaultCacheRoot(BentoStore store) =>
        Environment.GetEnvironmentVariable("BENTO_RUNTIME_CACHE") is { Length: > 0 } configured
            ? configured
            : Path.Combine(store.CacheDirectory, "runtime");

    /// <summary>The repository holding runtime/Bento.Runtime: $BENTO_REPO, else the first folder above the CLI that has it.</summary>
    public static string LocateRepository()
    {
        if (Environment.GetEnvironmentVariable("BENTO_REPO") is { Length: > 0 } configured)
        {
            if (!File.Exists(Path.Combine(configured, ProjectRelativePath)))
                throw new BentoException($"BENTO_REPO={configured} has no {ProjectRelativePath}");
            return Path.GetFullPath(configured);
        }
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, ProjectRelativePath)))
                return dir.FullName;
        throw new BentoException($"the runtime's sources ({ProjectRelativePath}) were not found above {AppContext.BaseDirectory}; " +
                                 "run bento from its repository (./bento), set BENTO_REPO, or pass --runtime DIR with a published runtime");
    }

    /// <summary>The published runtime for <paramref name="rid"/>: from the cache, else published now (about a minute).</summary>
    public async Task<string> GetAsync(string repository, string rid, CancellationToken ct)
    {
        var key = await InputsKeyAsync(repository, rid, ct);
        var entry = Path.Combine(CacheRoot, key);
        var published = Path.Combine(entry, "publish");
        var complete = Path.Combine(entry, ".complete");
        if (File.Exists(complete))
        {
            Touch(complete);
            return published;
        }

        Directory.CreateDirectory(CacheRoot);
        using var held = await StoreLock.AcquireAsync(Path.Combine(CacheRoot, key + ".lock"), log, TimeSpan.FromMinutes(20), ct);
        if (File.Exists(complete)) return published;

        var work = Path.Combine(CacheRoot, $"tmp-{Environment.ProcessId}-{Guid.NewGuid():N}");
        try
        {
            log?.Invoke($"publishing the runtime for {rid} (once per runtime version; cached in {entry})");
            var output = Path.Combine(work, "publish");
            var start = new ProcessStartInfo("dotnet")
            {
                UseShellExecute = false,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                RedirectStandardInput = true,
                WorkingDirectory = repository,
            };
            foreach (var arg in new[]
                     {
                         "publish", Path.Combine(repository, ProjectRelativePath), "-c", "Release", "-r", rid, "--self-contained",
                         "-o", output, "--artifacts-path", Path.Combine(work, "artifacts"), "--nologo", "-v", "quiet",
                         "-p:DebugType=None", "-p:DebugSymbols=false", "-p:ContinuousIntegrationBuild=true",
                         "-p:Deterministic=true", "-p:GenerateDocumentationFile=false",
                         // Paths must not reach the binaries (source generators name types after their file paths):
                         // map the repository and this temporary build folder to fixed names.
                         $"-p:PathMap={work}=/_build/%2C{repository}=/_/",
                     })
                start.ArgumentList.Add(arg);
            // MSBuild variables of a surrounding build (dotnet test) must not leak into this one.
            foreach (var name in Environment.GetEnvironmentVariables().Keys.Cast<string>().Where(k => k.StartsWith("MSBuild", StringComparison.OrdinalIgnoreCase)).ToList())
                start.Environment.Remove(name);
            using var process = Process.Start(start) ?? throw new BentoException("could not start 'dotnet publish'");
            process.StandardInput.Close();
            var stdout = process.StandardOutput.ReadToEndAsync(ct);
            var stderr = process.StandardError.ReadToEndAsync(ct);
            try { await process.WaitForExitAsync(ct); }
            catch (OperationCanceledException) { process.Kill(entireProcessTree: true); throw; }
            if (process.ExitCode != 0)
            {
                var text = (await stdout + "\n" + await stderr).Split('\n').Select(l => l.Trim()).Where(l => l.Contains("error", StringComparison.OrdinalIgnoreCase)).Take(3);
                throw new BentoException($"publishing the runtime failed (dotnet publish exit code {process.ExitCode}): {string.Join(" | ", text)}");
            }
            if (!File.Exists(Path.Combine(output, "bento-runtime")))
                throw new BentoException($"dotnet publish did not produce {output}/bento-runtime");
            if (Directory.Exists(entry)) Directory.Delete(entry, recursive: true);
            Directory.CreateDirectory(entry);
            Directory.Move(output, published);
            await File.WriteAllTextAsync(complete, DateTimeOffset.UtcNow.ToString("O") + "\n", ct);
            Prune(key);
            return published;
        }
        finally
        {
            try { if (Directory.Exists(work)) Directory.Delete(work, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    /// <summary>How long a published runtime nobody used is kept (each is ~600 MB; every runtime change makes one).</summary>
    public static readonly TimeSpan KeepUnused = TimeSpan.FromDays(7);

    private static void Touch(string path)
    {
        try { File.SetLastWriteTimeUtc(path, DateTime.UtcNow); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    /// <summary>Removes other published runtimes unused for <see cref="KeepUnused"/> (last use: their .complete's mtime)
    /// and leftovers of killed publishes.</summary>
    private void Prune(string keep)
    {
        foreach (var dir in Directory.EnumerateDirectories(CacheRoot))
        {
            var name = Path.GetFileName(dir);
            var marker = Path.Combine(dir, ".complete");
            if (name.StartsWith("tmp-", StringComparison.Ordinal))
            {
                // A publish killed half-way (tmp-PID-GUID) whose process is gone.
                var parts = name.Split('-');
                if (parts.Length > 2 && int.TryParse(parts[1], out var pid) && !Directory.Exists($"/proc/{pid}"))
                    try { Directory.Delete(dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
                continue;
            }
            if (name == keep || !File.Exists(marker)) continue;
            if (DateTime.UtcNow - File.GetLastWriteTimeUtc(marker) < KeepUnused) continue;
            try
            {
                File.Delete(marker); // first, so a half-deleted entry is never taken for complete
                Directory.Delete(dir, recursive: true);
                File.Delete(dir + ".lock");
            }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
    }

    /// <summary>sha256 over the RID, the SDK version and every input file's path and content (sorted), as 24 hex digits.</summary>
    public static async Task<string> InputsKeyAsync(string repository, string rid, CancellationToken ct)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        void Line(string s) => hash.AppendData(Encoding.UTF8.GetBytes(s + "\n"));
        Line("bento-runtime-publish v1");
        Line($"rid {rid}");
        Line($"sdk {await SdkVersionAsync(repository, ct)}");
        var files = new List<string>();
        foreach (var name in RootInputs)
            if (File.Exists(Path.Combine(repository, name))) files.Add(name);
        foreach (var dir in SourceInputs)
        {
            var full = Path.Combine(repository, dir);
            if (!Directory.Exists(full)) continue;
            files.AddRange(Directory.EnumerateFiles(full, "*", SearchOption.AllDirectories)
                .Select(f => Path.GetRelativePath(repository, f).Replace('\\', '/'))
                .Where(f => !f.Split('/').Any(part => part is "bin" or "obj" or ".vs")));
        }
        foreach (var file in files.Order(StringComparer.Ordinal))
            Line($"{file} {Convert.ToHexStringLower(SHA256.HashData(await File.ReadAllBytesAsync(Path.Combine(repository, file), ct)))}");
        return Convert.ToHexStringLower(hash.GetHashAndReset())[..24];
    }

    private static async Task<string> SdkVersionAsync(string repository, CancellationToken ct)
    {
        try
        {
            var start = new ProcessStartInfo("dotnet", "--version") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = repository };
            using var process = Process.Start(start)!;
            var text = await process.StandardOutput.ReadToEndAsync(ct);
            await process.WaitForExitAsync(ct);
            return process.ExitCode == 0 ? text.Trim() : "unknown";
        }
        catch (System.ComponentModel.Win32Exception)
        {
            throw new BentoException("the .NET SDK ('dotnet') is needed to publish the runtime for the image; install it or pass --runtime DIR");
        }
    }
}
