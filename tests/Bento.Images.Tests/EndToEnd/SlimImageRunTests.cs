using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using Bento.Images.Tests.Infrastructure;

namespace Bento.Images.Tests.EndToEnd;

/// <summary>
/// <c>bento containerize --weights separate</c> for real: the slim image (no weight layer) runs with the bento's model
/// files mounted where its BENTO_MODEL_DIR points — in a chroot (unpacked with umoci) and under dockerd (docker run -v)
/// — and refuses to start, exit 1, naming the file, when a weight file is missing or altered. A restart re-hashes nothing.
/// </summary>
[Trait("Category", "Slow")]
[Collection(ImageEndToEndCollection.Name)]
public sealed class SlimImageRunTests(ImageEndToEndFixture fixture)
{
    private string BentoDirectory => Path.Combine(fixture.Home, "bentos", fixture.Tag.Split(':')[0], fixture.Tag.Split(':')[1]);

    private async Task<string> SlimLayoutAsync()
    {
        var layout = fixture.Scratch.Combine("slim-layout");
        if (Directory.Exists(layout)) return layout;
        var (args, env) = fixture.ContainerizeArgs(fixture.Tag);
        var run = await fixture.BentoAsync(env, [.. args, "--weights", "separate", "--output", $"oci:{layout}:slim"]);
        Assert.True(run.ExitCode == 0, run.ToString());
        return layout;
    }

    /// <summary>A copy of the bento's directory (copies, not the store's hard links: the tests damage them).</summary>
    private string CopyOfBento(string name)
    {
        var target = fixture.Scratch.Combine(name);
        foreach (var file in Directory.EnumerateFiles(BentoDirectory, "*", SearchOption.AllDirectories))
        {
            var destination = Path.Combine(target, Path.GetRelativePath(BentoDirectory, file));
            Directory.CreateDirectory(Path.GetDirectoryName(destination)!);
            File.Copy(file, destination);
        }
        return target;
    }

    [Fact]
    public async Task The_slim_image_has_no_weights_and_its_artifact_sits_beside_it()
    {
        var layout = await SlimLayoutAsync();
        var skopeo = HostTools.Require("skopeo", "skopeo");
        var inspect = JsonNode.Parse((await HostTools.CheckedAsync(skopeo, "inspect", $"oci:{layout}:slim")).Stdout)!;
        Assert.Equal(5, inspect["Layers"]!.AsArray().Count); // base + LibTorch + .NET + app + bento: no weight layer
        Assert.Equal("separate", (string)inspect["Labels"]!["ai.bentobuilder.weights"]!);
        var artifact = JsonNode.Parse((await HostTools.CheckedAsync(skopeo, "inspect", "--raw", $"oci:{layout}:slim-model")).Stdout)!;
        Assert.Equal("application/vnd.cncf.model.manifest.v1+json", (string)artifact["artifactType"]!);
        var index = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(layout, "index.json")))!["manifests"]!.AsArray();
        var artifactDigest = index.Single(m => (string?)m!["annotations"]?["org.opencontainers.image.ref.name"] == "slim-model")!["digest"]!.ToString();
        Assert.Equal(artifactDigest, (string)inspect["Labels"]!["ai.bentobuilder.model.artifact"]!);
        Assert.Contains("BENTO_MODEL_DIR=/bento-model/model", inspect["Env"]!.AsArray().Select(e => (string)e!));
    }

    [Fact]
    public async Task In_a_chroot_the_slim_image_serves_with_the_model_mounted_and_refuses_altered_weights()
    {
        var layout = await SlimLayoutAsync();
        var umoci = HostTools.Require("umoci", "umoci");
        HostTools.Require("unshare", "util-linux");
        var bundle = fixture.Scratch.Combine("slim-bundle");
        await HostTools.CheckedAsync(umoci, "unpack", "--image", $"{layout}:slim", bundle);
        var spec = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(bundle, "config.json")))!["process"]!;
        var args = spec["args"]!.AsArray().Select(a => (string)a!).ToList();
        var env = spec["env"]!.AsArray().Select(a => (string)a!).ToList();
        var cwd = (string)spec["cwd"]!;
        var user = $"{(int)spec["user"]!["uid"]!}:{(int)spec["user"]!["gid"]!}";
        var rootfs = Path.Combine(bundle, "rootfs");
        Assert.False(File.Exists(Path.Combine(rootfs, "bento", "model", "model.safetensors")), "the slim image carries the weights");

        var port = FreeTcpPort.Pick();
        env.RemoveAll(e => e.StartsWith("BENTO_PORT=", StringComparison.Ordinal));
        env.AddRange(["BENTO_ENFORCE_EAGER=1", $"BENTO_PORT={port}", "BENTO_HOST=127.0.0.1"]);
        var good = CopyOfBento("mounted-good");

        // Serves, after verifying every model file.
        var (output, health) = await RunUntilHealthyAsync(rootfs, good, user, cwd, env, args, port);
        Assert.Equal(fixture.Tag, (string)health["bento"]!);
        Assert.Matches(@"model files in /bento-model/model \(BENTO_MODEL_DIR\) match bento.yaml: 6 file\(s\), 6 hashed", output);

        // Restarted: the hash cache in /tmp (which outlives the container in a pod) means nothing is hashed again.
        var (again, _) = await RunUntilHealthyAsync(rootfs, good, user, cwd, env, args, port);
        Assert.Contains("6 file(s), 0 hashed (0 MiB), 6 unchanged since last verified", again);

        // An altered weight file (same size, one byte flipped) and a missing one: refused, exit 1, naming the file.
        var altered = CopyOfBento("mounted-altered");
        var weights = Path.Combine(altered, "model", "model.safetensors");
        await using (var f = new FileStream(weights, FileMode.Open, FileAccess.ReadWrite))
        {
            f.Position = f.Length - 1;
            var b = f.ReadByte();
            f.Position = f.Length - 1;
            f.WriteByte((byte)(b ^ 0xff));
        }
        var refused = await ProcessRunner.RunAsync("unshare", InChroot(rootfs, altered, user, cwd, env, args), timeout: TimeSpan.FromMinutes(2));
        Assert.True(refused.ExitCode == 1, refused.ToString());
        Assert.Contains("error: BENTO_MODEL_DIR=/bento-model/model: model.safetensors has sha256", refused.Stderr);
        Assert.Contains("refusing to serve", refused.Stderr);

        var missing = CopyOfBento("mounted-missing");
        File.Delete(Path.Combine(missing, "model", "model.safetensors"));
        var gone = await ProcessRunner.RunAsync("unshare", InChroot(rootfs, missing, user, cwd, env, args), timeout: TimeSpan.FromMinutes(2));
        Assert.True(gone.ExitCode == 1, gone.ToString());
        Assert.Contains("model.safetensors is missing", gone.Stderr);
    }

    private static async Task<(string Output, JsonNode Health)> RunUntilHealthyAsync(string rootfs, string mounted, string user, string cwd,
        IReadOnlyList<string> env, IReadOnlyList<string> args, int port)
    {
        var info = new ProcessStartInfo("unshare") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (var a in InChroot(rootfs, mounted, user, cwd, env, args)) info.ArgumentList.Add(a);
        var log = new StringBuilder();
        using var process = Process.Start(info)!;
        process.OutputDataReceived += (_, e) => { lock (log) log.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { lock (log) log.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            var health = await HealthProbe.WaitForEagerFromEnvAsync(port, () => process.HasExited ? $"exit code {process.ExitCode}\n{log}" : null, TimeSpan.FromMinutes(3));
            lock (log) return (log.ToString(), health);
        }
        finally
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
    }

    /// <summary>As <see cref="ChrootRunTests"/> starts the image, with <paramref name="mounted"/> bound read-only at /bento-model (the artifact's place).</summary>
    private static List<string> InChroot(string rootfs, string mounted, string user, string cwd, IEnumerable<string> env, IEnumerable<string> args)
    {
        var list = new List<string>
        {
            "--mount", "--pid", "--fork", "--kill-child", "--", "sh", "-c",
            "r=$1; m=$2; u=$3; c=$4; shift 4; mkdir -p \"$r/bento-model\" && mount --bind \"$m\" \"$r/bento-model\" && mount -o remount,bind,ro \"$r/bento-model\" " +
            "&& mount -t proc proc \"$r/proc\" && mount --rbind /dev \"$r/dev\" && exec chroot --userspec=\"$u\" \"$r\" /usr/bin/env -i -C \"$c\" \"$@\"",
            "sh", rootfs, mounted, user, cwd,
        };
        list.AddRange(env);
        list.AddRange(args);
        return list;
    }

    [Fact]
    public async Task Under_dockerd_the_slim_image_serves_with_the_model_mounted_and_refuses_a_missing_weight_file()
    {
        await using var engine = await Dockerd.StartAsync();
        var (args, env) = fixture.ContainerizeArgs(fixture.Tag);
        var archive = fixture.Scratch.Combine("slim.tar");
        var containerize = await fixture.BentoAsync(env, [.. args, "--weights", "separate", "--output", $"docker-archive:{archive}:bento-slim:test"]);
        Assert.True(containerize.ExitCode == 0, containerize.ToString());
        var load = await engine.DockerAsync(["load", "-i", archive]);
        Assert.True(load.ExitCode == 0, load.ToString());

        var good = CopyOfBento("docker-good");
        var port = FreeTcpPort.Pick();
        var run = await engine.DockerAsync(["run", "-d", "--network", "host", "-e", "BENTO_ENFORCE_EAGER=1", "-e", $"BENTO_PORT={port}",
            "-v", $"{good}:/bento-model:ro", "bento-slim:test"]);
        Assert.True(run.ExitCode == 0, run.ToString());
        var container = run.LastStdoutLine;
        try
        {
            await HealthProbe.WaitForEagerFromEnvAsync(port, () =>
            {
                var state = engine.DockerAsync(["inspect", "-f", "{{.State.Running}}", container]).GetAwaiter().GetResult();
                if (state.LastStdoutLine == "true") return null;
                var logs = engine.DockerAsync(["logs", container]).GetAwaiter().GetResult();
                return $"the container is not running:\n{logs.Stdout}\n{logs.Stderr}";
            }, TimeSpan.FromMinutes(3));
        }
        finally
        {
            await engine.DockerAsync(["rm", "-f", container]);
        }

        var missing = CopyOfBento("docker-missing");
        File.Delete(Path.Combine(missing, "model", "model.safetensors"));
        var refused = await engine.DockerAsync(["run", "--network", "host", "-v", $"{missing}:/bento-model:ro", "bento-slim:test"], TimeSpan.FromMinutes(2));
        Assert.True(refused.ExitCode == 1, refused.ToString());
        Assert.Contains("model.safetensors is missing", refused.Stderr);
    }
}
