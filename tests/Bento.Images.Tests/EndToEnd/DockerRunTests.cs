using System.Text.Json.Nodes;
using Bento.Images.Tests.Infrastructure;

namespace Bento.Images.Tests.EndToEnd;

/// <summary>
/// --load into a real Docker engine (a private dockerd this test starts and stops), then docker run with a
/// deployment's BENTO_ENFORCE_EAGER=1: /health must report enforce_eager=true from "env" once the model is loaded, and
/// the image's HEALTHCHECK must mark the container healthy.
/// </summary>
[Trait("Category", "Slow")]
[Collection(ImageEndToEndCollection.Name)]
public sealed class DockerRunTests(ImageEndToEndFixture fixture)
{
    [Fact]
    public async Task The_loaded_image_runs_in_docker_with_the_deployments_enforce_eager()
    {
        await using var engine = await Dockerd.StartAsync();
        var (args, env) = fixture.ContainerizeArgs(fixture.Tag);
        env["DOCKER_HOST"] = engine.Host;
        var load = await fixture.BentoAsync(env, [.. args, "--load", "-t", "bento-e2e:test"]);
        Assert.True(load.ExitCode == 0, load.ToString());
        Assert.Equal(fixture.Digest, load.LastStdoutLine);

        var inspect = await engine.DockerAsync(["image", "inspect", "bento-e2e:test"]);
        Assert.True(inspect.ExitCode == 0, inspect.ToString());
        var config = JsonNode.Parse(inspect.Stdout)!.AsArray().Single()!["Config"]!;
        Assert.Equal("10001:10001", (string)config["User"]!);
        Assert.NotNull(config["Healthcheck"]);

        var port = FreeTcpPort.Pick();
        var run = await engine.DockerAsync(["run", "-d", "--network", "host", "-e", "BENTO_ENFORCE_EAGER=1", "-e", $"BENTO_PORT={port}", "bento-e2e:test"]);
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

            // Docker's own HEALTHCHECK (bento-runtime --healthcheck: GET /health, every 30 s) reports the container healthy.
            Assert.Equal("healthy", await HealthProbe.WaitForDockerHealthyAsync(engine, container, TimeSpan.FromMinutes(2)));
        }
        finally
        {
            await engine.DockerAsync(["rm", "-f", container]);
        }
    }
}
