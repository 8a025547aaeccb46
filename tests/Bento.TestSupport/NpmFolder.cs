using System.Collections.Concurrent;

namespace Bento.TestSupport;

/// <summary>
/// A folder of the tests that holds a package.json (and the scripts that use its packages), copied to
/// <c>.build/NAME</c> and installed there with npm once: again only when its package.json changes or its packages are
/// gone. Concurrent tests of one folder wait for one install.
/// </summary>
public static class NpmFolder
{
    private static readonly ConcurrentDictionary<string, SemaphoreSlim> Gates = new();

    /// <param name="source">The folder, relative to the repository root.</param>
    /// <returns>The installed copy (its <c>node_modules</c> holds the packages).</returns>
    public static async Task<string> InstallAsync(string source, string name)
    {
        var from = Path.Combine(Repo.Root, source);
        var work = Path.Combine(Repo.Root, ".build", name);
        var gate = Gates.GetOrAdd(work, _ => new SemaphoreSlim(1, 1));
        await gate.WaitAsync();
        try
        {
            Directory.CreateDirectory(work);
            var manifest = Path.Combine(work, "package.json");
            var changed = !File.Exists(manifest) || File.ReadAllText(manifest) != File.ReadAllText(Path.Combine(from, "package.json"));
            foreach (var file in Directory.GetFiles(from)) File.Copy(file, Path.Combine(work, Path.GetFileName(file)), overwrite: true);
            if (changed || !Directory.Exists(Path.Combine(work, "node_modules")))
            {
                var install = await ProcessRunner.RunAsync("npm", ["install", "--no-audit", "--no-fund", "--loglevel=error"], work, timeout: TimeSpan.FromMinutes(5));
                if (install.ExitCode != 0)
                    throw new InvalidOperationException($"npm install in {work} failed ({install.ExitCode}):\n{install.Stdout}{install.Stderr}");
            }
            return work;
        }
        finally { gate.Release(); }
    }
}
