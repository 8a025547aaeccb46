using System.Text.Json.Nodes;

namespace Bento.Runtime.Tests.Server;

/// <summary>
/// The official <c>openai</c> npm package against our server (Node comes with the Debian 13 rootfs these tests run in;
/// the package is installed from npm into the test's own folder on first use).
/// </summary>
[Collection("server"), Trait("Category", "Slow")]
public class NpmClientTests(SharedServer shared)
{
    [Fact]
    public async Task The_openai_npm_client_works_unchanged()
    {
        var source = Path.Combine(Repo.Root, "tests", "Bento.Runtime.Tests", "Server", "npm-client");
        var work = Path.Combine(Repo.Root, ".build", "npm-client");
        Directory.CreateDirectory(work);
        foreach (var file in new[] { "package.json", "client.mjs" }) File.Copy(Path.Combine(source, file), Path.Combine(work, file), overwrite: true);
        if (!Directory.Exists(Path.Combine(work, "node_modules", "openai")))
            Assert.Equal(0, (await RunAsync("npm", ["install", "--no-audit", "--no-fund", "--loglevel=error"], work)).ExitCode);

        var (exit, output) = await RunAsync("node", ["client.mjs", new Uri(shared.Server.BaseUri, "/v1").ToString().TrimEnd('/')], work);
        Assert.True(exit == 0, output);
        var result = JsonNode.Parse(output.Trim().Split('\n')[^1])!;
        Assert.Equal("tiny-llama", result["models"]![0]!.GetValue<string>());
        Assert.Equal(result["chat"]!["text"]!.GetValue<string>(), result["stream"]!["text"]!.GetValue<string>());
        Assert.Equal(result["chat"]!["finish"]!.GetValue<string>(), result["stream"]!["finish"]!.GetValue<string>());
        Assert.Equal(result["chat"]!["usage"]!["completion_tokens"]!.GetValue<int>(), result["stream"]!["usage"]!["completion_tokens"]!.GetValue<int>());
        Assert.Equal(4, result["completion"]!["usage"]!["completion_tokens"]!.GetValue<int>());
        Assert.Equal(400, result["error"]!["status"]!.GetValue<int>());
        Assert.Contains("maximum context length", result["error"]!["message"]!.GetValue<string>());
    }

    private static async Task<(int ExitCode, string Output)> RunAsync(string file, string[] args, string directory)
    {
        var r = await ProcessRunner.RunAsync(file, args, directory, timeout: TimeSpan.FromMinutes(3));
        return (r.ExitCode, r.Stdout + r.Stderr);
    }
}
