using System.Text.Json.Nodes;
using Bento.Images.Oci;
using Bento.Images.Tests.Infrastructure;
using Bento.Images.Tests.Registry;

namespace Bento.Images.Tests.Cli;

/// <summary>
/// containerize with the registry client: a base image pulled from a registry (Debian's docker-registry, plain http,
/// --insecure) and the image pushed to it with -t; skopeo, an independent client, then reads what was pushed.
/// </summary>
[Trait("Category", "Slow")]
public sealed class ContainerizeRegistryTests : ImageTestBase
{
    [Fact]
    public async Task The_image_is_pushed_with_its_digest_and_uncompressed_weights_on_a_base_pulled_from_a_registry()
    {
        var skopeo = HostTools.Require("skopeo", "skopeo");
        using var registry = new RegistryServer();
        await HostTools.CheckedAsync(skopeo, "copy", "--dest-tls-verify=false", $"oci:{BaseLayout}:base", $"docker://{registry.Host}/base:1");
        var bento = await BentoAsync();

        var env = new Dictionary<string, string?> { ["BENTO_HOME"] = Store.Root, ["SOURCE_DATE_EPOCH"] = null };
        var target = $"{registry.Host}/bentos/alpha:v1";
        var r = await ProcessRunner.RunAsync(Repo.Launcher,
            ["containerize", bento.Tag, "--base-image", $"{registry.Host}/base:1", "--insecure", "--runtime", Runtime, "--push", "-t", target, "--output", $"oci:{Scratch.Combine("local")}"],
            Scratch.CreateDirectory("cwd"), env, TimeSpan.FromMinutes(10));
        Assert.True(r.ExitCode == 0, $"{r}\n--- registry log ---\n{registry.Log()}");
        var digest = r.LastStdoutLine;

        var inspect = JsonNode.Parse((await HostTools.CheckedAsync(skopeo, "inspect", "--tls-verify=false", $"docker://{target}")).Stdout)!;
        Assert.Equal(digest, (string)inspect["Digest"]!);
        var manifest = OciJson.Parse<ManifestDocument>(System.Text.Encoding.UTF8.GetBytes((await HostTools.CheckedAsync(skopeo, "inspect", "--raw", "--tls-verify=false", $"docker://{target}")).Stdout), "pushed manifest");
        Assert.Equal(MediaTypes.OciLayer, manifest.Layers[4].MediaType); // the weight layer stays uncompressed
        Assert.Equal($"{registry.Host}/base:1", manifest.Annotations![OciAnnotations.BaseName]);

        // The base layer was downloaded once (a line per blob: stderr is not a terminal), then taken from the image cache.
        Assert.Matches(@"layer [0-9a-f]{12} +\S+ \S+ downloaded", r.Stderr);

        // The base layers were mounted from the repository they were pulled from, not uploaded again.
        Assert.Contains("mounted from base", r.Stderr);

        // Pushed again unchanged: every blob is already there and only the manifest moves.
        var again = await ProcessRunner.RunAsync(Repo.Launcher,
            ["containerize", bento.Tag, "--base-image", $"{registry.Host}/base:1", "--insecure", "--runtime", Runtime, "--push", "-t", target],
            Scratch.CreateDirectory("cwd2"), env, TimeSpan.FromMinutes(10));
        Assert.True(again.ExitCode == 0, again.ToString());
        Assert.Equal(digest, again.LastStdoutLine);
        Assert.Matches(@"layer [0-9a-f]{12} +\S+ \S+ in the image cache", again.Stderr);
        Assert.DoesNotContain(" downloaded", again.Stderr);
        var summary = System.Text.RegularExpressions.Regex.Match(again.Stderr, @"pushed \S+ \(sha256:[0-9a-f]{64}\): 0 blob\(s\) uploaded, (\d+) already there, 0 mounted; (\d+(?:\.\d)?) (B|KiB) sent");
        Assert.True(summary.Success, again.Stderr);
        Assert.Equal(manifest.Layers.Count + 1, int.Parse(summary.Groups[1].Value)); // the layers and the config
        Assert.True(summary.Groups[3].Value == "B" || double.Parse(summary.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture) < 100, again.Stderr);

        // The same image written locally has the same digest: the sinks write the same bytes.
        var local = JsonNode.Parse((await HostTools.CheckedAsync(skopeo, "inspect", $"oci:{Scratch.Combine("local")}")).Stdout)!;
        Assert.Equal(digest, (string)local["Digest"]!);
    }
}
