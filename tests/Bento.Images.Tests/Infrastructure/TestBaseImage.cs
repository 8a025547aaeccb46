using Bento.Core.Store;

namespace Bento.Images.Tests.Infrastructure;

/// <summary>
/// The real base image of the end-to-end tests: Debian 13 minbase with what the runtime needs (scripts/make-base-image:
/// debootstrap + umoci), an OCI layout tagged "trixie". Built once per machine (about two minutes) and cached under
/// $BENTO_TEST_CACHE (default /var/cache/bentobuilder)/base-image-trixie-v1; concurrent test runs wait for one another.
/// </summary>
public static class TestBaseImage
{
    public const string Reference = "trixie";
    private const string Name = "base-image-trixie-v1";

    private static readonly Lazy<Task<string>> Layout = new(CreateAsync, LazyThreadSafetyMode.ExecutionAndPublication);

    public static Task<string> GetAsync() => Layout.Value;

    private static async Task<string> CreateAsync()
    {
        var dir = Path.Combine(Repo.MachineCache, Name);
        if (File.Exists(Path.Combine(dir, "index.json"))) return dir;
        HostTools.Require("debootstrap", "debootstrap");
        HostTools.Require("umoci", "umoci");
        Directory.CreateDirectory(Repo.MachineCache);
        using var held = await StoreLock.AcquireAsync(Path.Combine(Repo.MachineCache, Name + ".lock"), null, TimeSpan.FromMinutes(30));
        if (File.Exists(Path.Combine(dir, "index.json"))) return dir;
        var r = await ProcessRunner.RunAsync("bash", [Path.Combine(Repo.Root, "scripts", "make-base-image"), dir], timeout: TimeSpan.FromMinutes(25));
        if (r.ExitCode != 0) throw new InvalidOperationException($"building the test base image failed (needs root, network access to the Debian mirror, debootstrap and umoci):\n{r}");
        return dir;
    }
}
