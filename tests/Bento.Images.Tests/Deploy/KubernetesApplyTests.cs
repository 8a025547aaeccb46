using System.Net;
using System.Net.Sockets;
using Bento.Images.Tests.Infrastructure;

namespace Bento.Images.Tests.Deploy;

/// <summary>
/// --apply goes through KubernetesClient with the user's kubeconfig. No Kubernetes API server can run on these
/// machines, so this proves the real client path up to the network: the kubeconfig and context are honoured, an
/// unreachable server is one clear error, and nothing is printed as applied.
/// </summary>
public sealed class KubernetesApplyTests : ImageTestBase
{
    [Fact]
    public async Task Apply_reads_the_kubeconfig_context_and_reports_an_unreachable_api_server_clearly()
    {
        var project = Bentos.Project(Scratch.Combine("project"), "name: alpha\n");
        var home = Scratch.Combine("home");
        var env = new Dictionary<string, string?> { ["BENTO_HOME"] = home };
        var build = await ProcessRunner.RunAsync(Repo.Launcher, ["build", project], Scratch.CreateDirectory("cwd"), env, TimeSpan.FromMinutes(5));
        Assert.True(build.ExitCode == 0, build.ToString());

        // A port nothing listens on.
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        var port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        var kubeconfig = Scratch.Combine("kubeconfig");
        File.WriteAllText(kubeconfig, $$"""
            apiVersion: v1
            kind: Config
            clusters:
            - name: nowhere
              cluster: {server: "https://127.0.0.1:{{port}}", insecure-skip-tls-verify: true}
            users:
            - name: someone
              user: {token: "t0ken-never-printed"}
            contexts:
            - name: staging
              context: {cluster: nowhere, user: someone, namespace: llm}
            current-context: staging
            """);
        env["KUBECONFIG"] = kubeconfig;
        var image = "127.0.0.1:5000/a/alpha@sha256:" + new string('a', 64);

        var apply = await ProcessRunner.RunAsync(Repo.Launcher, ["deploy", "alpha", "--image", image, "--apply", "--context", "staging"], Scratch.CreateDirectory("cwd2"), env, TimeSpan.FromMinutes(2));
        Assert.Equal(1, apply.ExitCode);
        Assert.Contains($"cannot reach the Kubernetes API server at https://127.0.0.1:{port}", apply.Stderr);
        Assert.DoesNotContain("serverside-applied", apply.Stdout);
        Assert.DoesNotContain("t0ken-never-printed", apply.Stdout + apply.Stderr);

        var missing = await ProcessRunner.RunAsync(Repo.Launcher, ["deploy", "alpha", "--image", image, "--apply", "--context", "prod"], Scratch.CreateDirectory("cwd3"), env, TimeSpan.FromMinutes(2));
        Assert.Equal(1, missing.ExitCode);
        Assert.Contains("context 'prod'", missing.Stderr);
    }
}
