using System.Text.Json.Nodes;

namespace Bento.Images.Tests.EndToEnd;

/// <summary>Polls the runtime's /health until the model is loaded and enforce_eager is what the deployment set.</summary>
public static class HealthProbe
{
    /// <returns>The last /health document.</returns>
    public static async Task<JsonNode> WaitForEagerFromEnvAsync(int port, Func<string?> stillRunning, TimeSpan timeout)
    {
        var health = await WaitForLoadedAsync(port, stillRunning, timeout);
        var eager = health["engine"]?["enforce_eager"];
        if ((bool?)eager?["value"] != true || (string?)eager?["source"] != "env")
            throw new Xunit.Sdk.XunitException($"/health reports enforce_eager {eager?.ToJsonString()}, not true from env");
        return health;
    }

    /// <summary>Polls /health until the model is loaded (status ok with an engine section).</summary>
    public static async Task<JsonNode> WaitForLoadedAsync(int port, Func<string?> stillRunning, TimeSpan timeout)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var deadline = DateTime.UtcNow + timeout;
        JsonNode? last = null;
        string? lastError = null;
        while (DateTime.UtcNow < deadline)
        {
            if (stillRunning() is { } exited) throw new Xunit.Sdk.XunitException($"the runtime stopped before it was healthy: {exited}");
            try
            {
                using var response = await http.GetAsync($"http://127.0.0.1:{port}/health");
                last = JsonNode.Parse(await response.Content.ReadAsStringAsync());
                var status = (string?)last?["status"];
                if (status == "error") throw new Xunit.Sdk.XunitException($"the runtime reports an error: {last!.ToJsonString()}");
                var eager = last?["engine"]?["enforce_eager"];
                if (status == "ok" && eager is not null) return last!;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException or System.Text.Json.JsonException)
            {
                lastError = e.Message;
            }
            await Task.Delay(500);
        }
        throw new Xunit.Sdk.XunitException($"/health never reported a loaded model within {timeout.TotalSeconds} s; last: {last?.ToJsonString() ?? lastError}");
    }

    /// <summary>Waits for Docker's own healthcheck (the image's or the compose file's) to mark the container healthy.</summary>
    /// <returns>The last health status Docker reported.</returns>
    public static async Task<string> WaitForDockerHealthyAsync(Infrastructure.Dockerd engine, string container, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        string status;
        while ((status = (await engine.DockerAsync(["inspect", "-f", "{{.State.Health.Status}}", container])).LastStdoutLine) != "healthy" && DateTime.UtcNow < deadline)
            await Task.Delay(2000);
        return status;
    }
}
