using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using Bento.Images.Tests.Infrastructure;

namespace Bento.Images.Tests.EndToEnd;

/// <summary>
/// The image really runs: unpacked with umoci (an independent OCI implementation) and its entrypoint started in a
/// chroot exactly as the runtime spec umoci generates says (args, env, cwd, uid:gid), with a deployment's
/// BENTO_ENFORCE_EAGER=1 and a free BENTO_PORT. The runtime must load the model (TorchSharp on the image's Debian 13)
/// and report enforce_eager=true from "env" on /health.
/// </summary>
[Trait("Category", "Slow")]
[Collection(ImageEndToEndCollection.Name)]
public sealed class ChrootRunTests(ImageEndToEndFixture fixture)
{
    [Fact]
    public async Task The_unpacked_image_serves_the_bento_with_the_deployments_enforce_eager()
    {
        var umoci = HostTools.Require("umoci", "umoci");
        HostTools.Require("unshare", "util-linux");
        var bundle = fixture.Scratch.Combine("bundle");
        await HostTools.CheckedAsync(umoci, "unpack", "--image", $"{fixture.Layout}:e2e", bundle);
        var spec = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(bundle, "config.json")))!["process"]!;
        var args = spec["args"]!.AsArray().Select(a => (string)a!).ToList();
        var env = spec["env"]!.AsArray().Select(a => (string)a!).ToList();
        var cwd = (string)spec["cwd"]!;
        var user = $"{(int)spec["user"]!["uid"]!}:{(int)spec["user"]!["gid"]!}";
        Assert.Equal(["/opt/bento-runtime/bento-runtime"], args);
        Assert.Equal("10001:10001", user);
        Assert.Equal("/bento", cwd);
        Assert.DoesNotContain(env, e => e.StartsWith("BENTO_ENFORCE_EAGER=", StringComparison.Ordinal));

        var port = FreeTcpPort.Pick();
        env.RemoveAll(e => e.StartsWith("BENTO_PORT=", StringComparison.Ordinal));
        env.AddRange(["BENTO_ENFORCE_EAGER=1", $"BENTO_PORT={port}", "BENTO_HOST=127.0.0.1"]);

        var rootfs = Path.Combine(bundle, "rootfs");
        var info = new ProcessStartInfo("unshare") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (var a in InChroot(rootfs, user, cwd, env, args)) info.ArgumentList.Add(a);
        var log = new StringBuilder();
        using var process = Process.Start(info)!;
        process.OutputDataReceived += (_, e) => { lock (log) log.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { lock (log) log.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            var health = await HealthProbe.WaitForEagerFromEnvAsync(port,
                () => process.HasExited ? $"exit code {process.ExitCode}\n{log}" : null, TimeSpan.FromMinutes(3));
            Assert.Equal(fixture.Tag, (string)health["bento"]!);

            // The image's HEALTHCHECK command, run as Docker would (same env, in the container): healthy here, and
            // unhealthy when pointed at a port where nothing listens.
            // The config blob as written (skopeo's --config re-serialises it without Docker's Healthcheck field).
            var manifest = JsonNode.Parse((await HostTools.CheckedAsync(HostTools.Require("skopeo", "skopeo"), "inspect", "--raw", $"oci:{fixture.Layout}:e2e")).Stdout)!;
            var configFile = Path.Combine(fixture.Layout, "blobs", "sha256", ((string)manifest["config"]!["digest"]!)["sha256:".Length..]);
            var config = JsonNode.Parse(await File.ReadAllTextAsync(configFile))!;
            var healthcheck = config["config"]!["Healthcheck"]!["Test"]!.AsArray().Select(a => (string)a!).ToList();
            Assert.Equal(["CMD", "/opt/bento-runtime/bento-runtime", "--healthcheck"], healthcheck);
            var probe = await ProcessRunner.RunAsync("unshare", InChroot(rootfs, user, cwd, env, healthcheck.Skip(1)), timeout: TimeSpan.FromMinutes(1));
            Assert.True(probe.ExitCode == 0, probe.ToString());
            Assert.Contains($"GET http://127.0.0.1:{port}/health: 200", probe.Stdout);
            var closed = FreeTcpPort.Pick();
            var failing = await ProcessRunner.RunAsync("unshare", InChroot(rootfs, user, cwd, [.. env, $"BENTO_PORT={closed}"], healthcheck.Skip(1)), timeout: TimeSpan.FromMinutes(1));
            Assert.True(failing.ExitCode == 1, failing.ToString());
            Assert.Contains($"GET http://127.0.0.1:{closed}/health:", failing.Stdout);
        }
        catch (Exception e) when (e is not Xunit.Sdk.XunitException)
        {
            throw new Xunit.Sdk.XunitException($"{e.Message}\n--- runtime output ---\n{log}");
        }
        finally
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
    }

    /// <summary>
    /// The arguments of <c>unshare</c> that start a process in the unpacked rootfs as the runtime spec says: a private
    /// mount and pid namespace (its /proc and /dev vanish with it, and so does every process), chroot as uid:gid, an
    /// environment of exactly <paramref name="env"/>.
    /// </summary>
    private static List<string> InChroot(string rootfs, string user, string cwd, IEnumerable<string> env, IEnumerable<string> args)
    {
        var list = new List<string>();
        foreach (var a in new[] { "--mount", "--pid", "--fork", "--kill-child", "--", "sh", "-c",
                     "r=$1; u=$2; c=$3; shift 3; mount -t proc proc \"$r/proc\" && mount --rbind /dev \"$r/dev\" && exec chroot --userspec=\"$u\" \"$r\" /usr/bin/env -i -C \"$c\" \"$@\"",
                     "sh", rootfs, user, cwd })
            list.Add(a);
        list.AddRange(env);
        list.AddRange(args);
        return list;
    }

    [Fact]
    public async Task Skopeo_reads_the_real_image_and_its_labels()
    {
        var skopeo = HostTools.Require("skopeo", "skopeo");
        var inspect = JsonNode.Parse((await HostTools.CheckedAsync(skopeo, "inspect", $"oci:{fixture.Layout}:e2e")).Stdout)!;
        Assert.Equal(fixture.Digest, (string)inspect["Digest"]!);
        Assert.Equal("false", (string)inspect["Labels"]!["ai.bentobuilder.enforce_eager"]!);
        Assert.Equal(fixture.Tag, (string)inspect["Labels"]!["ai.bentobuilder.bento"]!);
        Assert.Equal(6, inspect["Layers"]!.AsArray().Count); // base + LibTorch + .NET + app + 1 weight + bento
    }

    /// <summary>A second containerize of the same bento in the same store: same digest, no layer computed.</summary>
    [Fact]
    public async Task Containerizing_again_reuses_every_layer_and_gives_the_same_digest()
    {
        var (args, env) = fixture.ContainerizeArgs(fixture.Tag);
        var again = await fixture.BentoAsync(env, [.. args, "--output", $"oci:{fixture.Scratch.Combine("again")}"]);
        Assert.True(again.ExitCode == 0, again.ToString());
        Assert.Equal(fixture.Digest, again.LastStdoutLine);
        Assert.Contains("0 layer(s) computed", again.Stderr);
    }
}
