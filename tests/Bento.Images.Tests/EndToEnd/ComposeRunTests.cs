using Bento.Images.Tests.Infrastructure;
using Bento.Images.Tests.Registry;

namespace Bento.Images.Tests.EndToEnd;

/// <summary>
/// bento deploy --compose run by Debian's docker-compose 1.29 against the tests' own dockerd, pulling the image the
/// bento pushed: /health reports enforce_eager from "env", and the compose healthcheck marks the container healthy.
/// </summary>
[Trait("Category", "Slow")]
[Trait("Category", "NeedsDocker")]
[Collection(ImageEndToEndCollection.Name)]
public sealed class ComposeRunTests(ImageEndToEndFixture fixture)
{
    [Fact]
    public async Task The_compose_file_runs_under_docker_compose_with_the_eager_override_and_turns_healthy()
    {
        var compose = HostTools.Require("docker-compose", "docker-compose");
        await using var engine = await Dockerd.StartAsync();
        using var registry = new RegistryServer();
        var (args, pushEnv) = fixture.ContainerizeArgs(fixture.Tag);
        var push = await fixture.BentoAsync(pushEnv, [.. args, "--push", "-t", $"{registry.Host}/compose/tiny:e2e", "--insecure"]);
        Assert.True(push.ExitCode == 0, push.ToString());

        var port = FreeTcpPort.Pick();
        var deploy = await fixture.BentoAsync(null, ["deploy", fixture.Tag, "--compose", "--name", "tiny", "--host-network", "--env", "BENTO_ENFORCE_EAGER=1", "--env", $"BENTO_PORT={port}"]);
        Assert.True(deploy.ExitCode == 0, deploy.ToString());
        var dir = fixture.Scratch.CreateDirectory($"compose-{Guid.NewGuid():N}");
        var file = Path.Combine(dir, "compose.yaml");
        File.WriteAllText(file, deploy.Stdout);
        var env = new Dictionary<string, string?> { ["DOCKER_HOST"] = engine.Host };
        var project = $"bento{Guid.NewGuid():N}"[..14];
        Task<ProcessResult> Compose(params string[] a) => ProcessRunner.RunAsync(compose, ["-p", project, "-f", file, .. a], dir, env, TimeSpan.FromMinutes(10));

        var up = await Compose("up", "-d");
        Assert.True(up.ExitCode == 0, $"{up}\n--- compose.yaml ---\n{deploy.Stdout}");
        var container = $"{project}_tiny_1";
        try
        {
            await HealthProbe.WaitForEagerFromEnvAsync(port, () =>
            {
                var state = engine.DockerAsync(["inspect", "-f", "{{.State.Running}}", container]).GetAwaiter().GetResult();
                if (state.LastStdoutLine == "true") return null;
                var logs = engine.DockerAsync(["logs", container]).GetAwaiter().GetResult();
                return $"the container is not running ({state}):\n{logs.Stdout}\n{logs.Stderr}";
            }, TimeSpan.FromMinutes(3));
            var settings = await engine.DockerAsync(["inspect", "-f", "{{.Config.User}} {{.HostConfig.ReadonlyRootfs}}", container]);
            Assert.Equal("10001:10001 true", settings.LastStdoutLine);

            // The compose healthcheck (the runtime's own probe, every 30 s) reports the container healthy.
            Assert.Equal("healthy", await HealthProbe.WaitForDockerHealthyAsync(engine, container, TimeSpan.FromMinutes(2)));
        }
        finally
        {
            await Compose("down", "--timeout", "30");
        }
    }
}
