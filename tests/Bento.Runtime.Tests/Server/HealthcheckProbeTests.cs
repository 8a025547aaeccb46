using System.Globalization;
using Bento.Runtime.Server;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;

namespace Bento.Runtime.Tests.Server;

/// <summary>
/// <c>bento-runtime --healthcheck</c> (the image's HEALTHCHECK) against real servers: it resolves the port like the
/// server does and exits 0 only when /health answers 200.
/// </summary>
public sealed class HealthcheckProbeTests
{
    [Fact]
    public async Task A_serving_runtime_is_healthy_and_a_closed_port_is_not()
    {
        await using var server = await RunningServer.StartAsync();
        var port = server.Port.ToString(CultureInfo.InvariantCulture);
        Assert.Equal(0, await RuntimeHost.RunAsync(["--bento", server.BentoDirectory, "--healthcheck", "--host", "127.0.0.1", "--port", port]));

        var closed = FreeTcpPort.Pick().ToString(CultureInfo.InvariantCulture);
        Assert.Equal(1, await RuntimeHost.RunAsync(["--bento", server.BentoDirectory, "--healthcheck", "--host", "127.0.0.1", "--port", closed]));
    }

    [Fact]
    public async Task A_503_from_health_is_unhealthy_and_the_status_is_reported()
    {
        var port = FreeTcpPort.Pick();
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        await using var app = builder.Build();
        app.MapGet("/health", () => Results.Json(new { status = "error", error = "loading the model failed" }, statusCode: 503));
        await app.StartAsync();

        var settings = Bento.Runtime.Tests.Settings.SettingsFixture.Resolve(cli: Bento.Runtime.Settings.CliOverrides.None.With(SettingName.Port, port).With(SettingName.Host, "0.0.0.0"));
        var output = new StringWriter();
        Assert.Equal(1, await HealthcheckProbe.RunAsync(settings, output));
        Assert.Contains($"GET http://127.0.0.1:{port}/health: 503", output.ToString());
        Assert.Contains("loading the model failed", output.ToString());
    }

    [Theory]
    [InlineData("0.0.0.0", "127.0.0.1")]
    [InlineData("::", "[::1]")]
    [InlineData("[::]", "[::1]")]
    [InlineData("127.0.0.2", "127.0.0.2")]
    [InlineData("::1", "[::1]")]
    [InlineData("localhost", "localhost")]
    public void Wildcard_listen_addresses_are_probed_on_loopback(string listen, string probed) =>
        Assert.Equal(probed, HealthcheckProbe.ProbeHost(listen));
}
