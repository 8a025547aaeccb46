using System.Text.Json.Nodes;
using Bento.Images.Tests.Infrastructure;
using Bento.Images.Tests.Registry;

namespace Bento.Images.Tests.EndToEnd;

/// <summary>
/// The Deployment bento deploy generates, run by podman kube play (Debian's podman 4.3, rootful) from the image pushed
/// to the tests' registry: with --env BENTO_ENFORCE_EAGER=1 /health reports enforce_eager from "env", without it from
/// "bento"; the probe paths answer 200 in the pod, and podman's healthcheck (the generated liveness probe) passes.
/// podman has no API server: readiness and Services are not exercised here (see docs for what is and is not proven).
/// </summary>
[Trait("Category", "Slow")]
[Trait("Category", "NeedsRoot")]
[Collection(ImageEndToEndCollection.Name)]
public sealed class PodmanKubePlayTests(ImageEndToEndFixture fixture)
{
    [Fact]
    public async Task The_generated_deployment_runs_under_podman_with_and_without_the_eager_override()
    {
        var podman = HostTools.Require("podman", "podman");
        using var registry = new RegistryServer();
        // The user's path: containerize --push records the pinned reference, and deploy takes it without --image.
        var (args, pushEnv) = fixture.ContainerizeArgs(fixture.Tag);
        var push = await fixture.BentoAsync(pushEnv, [.. args, "--push", "-t", $"{registry.Host}/deploy/tiny:e2e", "--insecure"]);
        Assert.True(push.ExitCode == 0, push.ToString());
        var image = $"{registry.Host}/deploy/tiny@{push.LastStdoutLine}";

        var scratch = fixture.Scratch.CreateDirectory($"podman-{Guid.NewGuid():N}");
        // These machines refuse podman's default rlimits (no CAP_SYS_RESOURCE); storage stays inside the test's scratch.
        var conf = Path.Combine(scratch, "containers.conf");
        File.WriteAllText(conf, "[containers]\ndefault_ulimits = [\"nofile=20000:20000\", \"nproc=32768:32768\"]\n");
        var env = new Dictionary<string, string?> { ["CONTAINERS_CONF"] = conf };
        // (podman refuses a runroot path longer than 50 characters.)
        var runRoot = Path.Combine("/tmp", $"bp-{Guid.NewGuid():N}"[..11]);
        string[] storage = ["--root", Path.Combine(scratch, "root"), "--runroot", runRoot, "--storage-driver", "vfs"];
        Task<ProcessResult> Podman(params string[] args) => ProcessRunner.RunAsync(podman, [.. storage, .. args], scratch, env, TimeSpan.FromMinutes(10));

        foreach (var (overrideEager, source) in new[] { (true, "env"), (false, "bento") })
        {
            var port = FreeTcpPort.Pick();
            var name = $"tiny-{source}";
            string[] eagerArgs = overrideEager ? ["--env", "BENTO_ENFORCE_EAGER=1"] : [];
            var deploy = await fixture.BentoAsync(null, ["deploy", fixture.Tag, "--name", name, "--host-network", "--probes", "exec",
                "--env", $"BENTO_PORT={port}", .. eagerArgs]);
            Assert.True(deploy.ExitCode == 0, deploy.ToString());
            Assert.Contains($"image: {image}\n", deploy.Stdout);
            var yaml = Path.Combine(scratch, $"{name}.yaml");
            File.WriteAllText(yaml, deploy.Stdout);

            var play = await Podman("kube", "play", "--tls-verify=false", yaml);
            Assert.True(play.ExitCode == 0, $"{play}\n--- generated ---\n{deploy.Stdout}");
            var container = $"{name}-pod-0-bento";
            try
            {
                var health = await HealthProbe.WaitForLoadedAsync(port, () =>
                {
                    var state = Podman("inspect", "-f", "{{.State.Running}}", container).GetAwaiter().GetResult();
                    if (state.LastStdoutLine == "true") return null;
                    var logs = Podman("logs", container).GetAwaiter().GetResult();
                    return $"the container is not running ({state.LastStdoutLine}):\n{logs.Stdout}\n{logs.Stderr}";
                }, TimeSpan.FromMinutes(3));
                var eager = health["engine"]!["enforce_eager"]!;
                Assert.Equal((overrideEager, source), ((bool)eager["value"]!, (string)eager["source"]!));

                // The paths the generated probes use answer 200 in the pod: /ready (startup, readiness) by httpGet,
                // /health through the runtime's own probe (the exec liveness probe).
                Assert.Contains($"path: {Bento.Core.Serving.ImageContract.ReadyPath}", deploy.Stdout);
                Assert.Contains($"- {Bento.Core.Serving.ImageContract.HealthcheckFlag}", deploy.Stdout);
                using var http = new HttpClient();
                foreach (var path in new[] { Bento.Core.Serving.ImageContract.ReadyPath, Bento.Core.Serving.ImageContract.HealthPath })
                {
                    using var response = await http.GetAsync($"http://127.0.0.1:{port}{path}");
                    Assert.Equal(200, (int)response.StatusCode);
                }

                // Non-root and read-only, as generated.
                var user = await Podman("inspect", "-f", "{{.Config.User}} {{.HostConfig.ReadonlyRootfs}}", container);
                Assert.Equal("10001:10001 true", user.LastStdoutLine);

                // The liveness probe became podman's healthcheck; it passes.
                var check = await Podman("healthcheck", "run", container);
                Assert.True(check.ExitCode == 0, check.ToString());
            }
            finally
            {
                await Podman("kube", "down", yaml);
            }
        }
        await Podman("system", "reset", "--force"); // unmounts and removes the scratch storage (and the run root)
        if (Directory.Exists(runRoot)) Directory.Delete(runRoot, recursive: true);
    }
}
