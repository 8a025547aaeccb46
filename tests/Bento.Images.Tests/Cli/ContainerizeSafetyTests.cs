using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using Bento.Images.Tests.Infrastructure;
using Bento.Images.Tests.Registry;

namespace Bento.Images.Tests.Cli;

/// <summary>
/// <c>bento containerize</c>'s bad-input and safety contract through the real launcher: a bento that does not exist,
/// invalid references, registries that cannot be reached or refuse the credentials, and a push with Basic auth whose
/// password must appear nowhere (output with --verbose, pushed config and manifest, local layout, store, caches).
/// </summary>
[Trait("Category", "Slow")]
public sealed class ContainerizeSafetyTests : ImageTestBase
{
    private const string Password = RegistryServer.Password;

    private Task<ProcessResult> CliAsync(IReadOnlyDictionary<string, string?>? env, params string[] args)
    {
        var environment = new Dictionary<string, string?>
        {
            ["BENTO_HOME"] = Store.Root,
            ["DOCKER_CONFIG"] = Scratch.CreateDirectory("docker-config"), // never the machine's own credentials
            ["SOURCE_DATE_EPOCH"] = null,
            ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1",
            ["DOTNET_NOLOGO"] = "1",
        };
        foreach (var (k, v) in env ?? new Dictionary<string, string?>()) environment[k] = v;
        return ProcessRunner.RunAsync(Repo.Launcher, args, Scratch.CreateDirectory("cwd-" + Guid.NewGuid().ToString("N")[..6]), environment, TimeSpan.FromMinutes(10));
    }

    private Task<ProcessResult> CliAsync(params string[] args) => CliAsync(null, args);

    private static string ErrorLine(ProcessResult r, int exitCode)
    {
        Assert.False(r.TimedOut, r.ToString());
        Assert.True(r.ExitCode == exitCode, $"expected exit code {exitCode}:\n{r}");
        var errors = r.StderrLines.Where(l => l.StartsWith("error: ", StringComparison.Ordinal)).ToList();
        Assert.True(errors.Count == 1, $"expected one error line:\n{r}");
        return errors[0];
    }

    private static void AssertMentions(string line, ProcessResult r, params string[] expected)
    {
        foreach (var text in expected) Assert.True(line.Contains(text, StringComparison.Ordinal), $"the error should mention '{text}':\n{r}");
    }

    private List<(string Path, long Size)> Tree(string root) =>
        Directory.Exists(root)
            ? Directory.EnumerateFileSystemEntries(root, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal)
                .Select(p => (p, File.Exists(p) ? new FileInfo(p).Length : -1L)).ToList()
            : [];

    [Fact]
    public async Task An_unknown_bento_fails_before_anything_is_read_written_or_sent()
    {
        var bento = await BentoAsync();
        // A registry stand-in that must see no connection at all.
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        try
        {
            var target = $"127.0.0.1:{((IPEndPoint)listener.LocalEndpoint).Port}/bentos/x:1";
            var before = Tree(Store.Root);
            string[] outputs =
            [
                "--output", $"oci:{Scratch.Combine("out")}", "--output", $"docker-archive:{Scratch.Combine("image.tar")}",
                "--dockerfile", Scratch.Combine("ctx"), "--push", "-t", target, "--insecure",
                "--base-image", $"oci:{BaseLayout}:base", "--runtime", Runtime,
            ];

            var r = await CliAsync(["containerize", "nosuch", .. outputs]);
            AssertMentions(ErrorLine(r, 1), r, "bento 'nosuch' not found", "bento list");

            var version = await CliAsync(["containerize", $"{bento.Manifest.Name}:0000000000000000", .. outputs]);
            AssertMentions(ErrorLine(version, 1), version, $"bento '{bento.Manifest.Name}:0000000000000000' not found", bento.Manifest.Version);

            Assert.Empty(r.Stdout);
            Assert.Empty(version.Stdout);
            Assert.False(Directory.Exists(Scratch.Combine("out")));
            Assert.False(File.Exists(Scratch.Combine("image.tar")));
            Assert.False(Directory.Exists(Scratch.Combine("ctx")));
            Assert.Equal(before, Tree(Store.Root)); // no cache, lock or temp file left in the store either
            Assert.False(listener.Pending(), "nothing may be sent to the registry for a bento that does not exist");
        }
        finally
        {
            listener.Stop();
        }
    }

    [Fact]
    public async Task Invalid_references_are_usage_errors_naming_the_reference_and_the_problem()
    {
        var bento = await BentoAsync();
        string[] rest = ["--runtime", Runtime, "--output", $"oci:{Scratch.Combine("o")}"];

        var upper = await CliAsync(["containerize", bento.Tag, "--base-image", "registry.example.com/Team/base:1", .. rest]);
        AssertMentions(ErrorLine(upper, 2), upper, "invalid base image 'registry.example.com/Team/base:1'", "must be lowercase ('Team')");

        var insecure = await CliAsync(["containerize", bento.Tag, "--base-image", "ghcr.io/a/b:-bad", "--insecure", .. rest]);
        AssertMentions(ErrorLine(insecure, 2), insecure, "ghcr.io/a/b:-bad", "the tag '-bad' is invalid");

        var tag = await CliAsync(["containerize", bento.Tag, "--base-image", $"oci:{BaseLayout}:base", "-t", "localhost:99999/app", "--push", .. rest]);
        AssertMentions(ErrorLine(tag, 2), tag, "invalid -t 'localhost:99999/app'", "the registry 'localhost:99999' is not a valid host[:port]");

        // Credentials pasted into a reference are refused, and never repeated (not even in the --verbose trace).
        var pasted = await CliAsync(["containerize", bento.Tag, "--base-image", $"oci:{BaseLayout}:base", "-t", "https://me:p4ssw0rd-91@ghcr.io/me/app:1", "--push", "--verbose", .. rest]);
        AssertMentions(ErrorLine(pasted, 2), pasted, "https://***@ghcr.io/me/app:1", "contains credentials", "bento login");
        Assert.DoesNotContain("p4ssw0rd-91", pasted.Stderr + pasted.Stdout);

        Assert.False(Directory.Exists(Scratch.Combine("o")), "no failed run may leave an output behind");
    }

    [Fact]
    public async Task A_bad_base_image_from_the_bento_is_named_as_the_bentos_and_a_source_with_credentials_is_refused()
    {
        string[] rest = ["--runtime", Runtime, "--output", $"oci:{Scratch.Combine("o")}"];

        // The bentofile accepted it (it only refuses whitespace, URLs and credentials); containerize says where it came from.
        var upper = await BentoAsync("name: upper\ndocker:\n  base_image: registry.example.com/Team/base:1\n", project: "upper");
        var r = await CliAsync(["containerize", upper.Tag, .. rest]);
        AssertMentions(ErrorLine(r, 1), r, upper.Tag, "the bento's docker.base_image 'registry.example.com/Team/base:1'", "must be lowercase ('Team')", "--base-image");

        // A --source URL with a token would be published in the image's labels and annotations: refused, not repeated.
        var fromFlag = await CliAsync(["containerize", upper.Tag, "--base-image", $"oci:{BaseLayout}:base", "--source", "https://me:tok3n-88@github.com/me/repo", "--verbose", .. rest]);
        AssertMentions(ErrorLine(fromFlag, 2), fromFlag, "--source 'https://***@github.com/me/repo'", "carries credentials");
        Assert.DoesNotContain("tok3n-88", fromFlag.Stderr + fromFlag.Stdout);
        Assert.False(Directory.Exists(Scratch.Combine("o")), "no failed run may leave an output behind");
    }

    [Fact]
    public async Task An_unreachable_registry_is_named_for_the_base_and_for_the_push()
    {
        var bento = await BentoAsync();
        var closed = $"127.0.0.1:{FreeTcpPort.Pick()}";

        var pull = await CliAsync("containerize", bento.Tag, "--base-image", $"{closed}/base:1", "--insecure", "--runtime", Runtime, "--output", $"oci:{Scratch.Combine("o")}");
        AssertMentions(ErrorLine(pull, 1), pull, $"cannot reach registry {closed}");

        var push = await CliAsync("containerize", bento.Tag, "--base-image", $"oci:{BaseLayout}:base", "--runtime", Runtime, "--push", "-t", $"{closed}/bentos/alpha:1", "--insecure");
        AssertMentions(ErrorLine(push, 1), push, $"cannot reach registry {closed}");
        Assert.Empty(push.Stdout); // no digest line: nothing was pushed
        Assert.False(Directory.Exists(Scratch.Combine("o")));
    }

    /// <summary>
    /// bento login, then a pull of the base and a push with Basic auth (--verbose): the password, and the base64 of
    /// USER:PASSWORD that the Authorization header and auth.json carry, appear in no output, not in the pushed config or
    /// manifest, the local layout, the bento or any cache; only in auth.json itself. Then docker's config with a wrong
    /// password: the error names the registry, where the credentials came from and what to do, and not the password.
    /// </summary>
    [Fact]
    public async Task A_push_with_basic_auth_never_shows_or_stores_the_password_outside_auth_json()
    {
        var skopeo = HostTools.Require("skopeo", "skopeo");
        using var registry = new RegistryServer(RegistryAuth.Htpasswd);
        var creds = $"{RegistryServer.User}:{Password}";
        await HostTools.CheckedAsync(skopeo, "copy", "--dest-tls-verify=false", "--dest-creds", creds, $"oci:{BaseLayout}:base", $"docker://{registry.Host}/base:1");
        var bento = await BentoAsync();
        var secrets = new[] { Password, Convert.ToBase64String(Encoding.UTF8.GetBytes(creds)) };
        void AssertClean(string what, string text)
        {
            foreach (var secret in secrets) Assert.False(text.Contains(secret, StringComparison.Ordinal), $"{what} contains a secret:\n{text}");
        }

        var passwordFile = Scratch.Write("password.txt", Password + "\n");
        var login = await ProcessRunner.RunAsync("bash", ["-c", "exec \"$0\" login \"$1\" -u \"$2\" --password-stdin --insecure --verbose < \"$3\"", Repo.Launcher, registry.Host, RegistryServer.User, passwordFile],
            Scratch.CreateDirectory("cwd-login"), new Dictionary<string, string?> { ["BENTO_HOME"] = Store.Root, ["DOCKER_CONFIG"] = Scratch.CreateDirectory("docker-config") });
        Assert.True(login.ExitCode == 0, login.ToString());
        AssertClean("bento login's output", login.Stdout + login.Stderr);

        var target = $"{registry.Host}/bentos/alpha:v1";
        var local = Scratch.Combine("local");
        var r = await CliAsync("containerize", bento.Tag, "--base-image", $"{registry.Host}/base:1", "--insecure", "--runtime", Runtime,
            "--push", "-t", target, "--output", $"oci:{local}", "--verbose");
        Assert.True(r.ExitCode == 0, $"{r}\n--- registry log ---\n{registry.Log()}");
        AssertClean("containerize's output", r.Stdout + r.Stderr);

        // What the registry holds, as an independent client reads it.
        var config = (await HostTools.CheckedAsync(skopeo, "inspect", "--config", "--tls-verify=false", "--creds", creds, $"docker://{target}")).Stdout;
        Assert.NotNull(JsonNode.Parse(config)!["config"]!["Labels"]);
        AssertClean("the pushed config", config);
        AssertClean("the pushed manifest", (await HostTools.CheckedAsync(skopeo, "inspect", "--raw", "--tls-verify=false", "--creds", creds, $"docker://{target}")).Stdout);

        // Every file written locally: the layout, the bento, the pull and layer caches. Only auth.json holds them.
        var authFile = Path.Combine(Store.Root, "auth.json");
        Assert.True(File.Exists(authFile));
        var files = Directory.EnumerateFiles(local, "*", SearchOption.AllDirectories)
            .Concat(Directory.EnumerateFiles(Store.Root, "*", SearchOption.AllDirectories).Where(f => f != authFile)).ToList();
        Assert.Contains(files, f => f.Contains(Path.Combine("images", "blobs"), StringComparison.Ordinal)); // the pull cache is among them
        foreach (var file in files)
            AssertClean(file, Encoding.Latin1.GetString(await File.ReadAllBytesAsync(file)));

        // Rejected credentials from docker's config: one error naming registry, source and remedy, never the password.
        Assert.True((await CliAsync("logout", registry.Host)).ExitCode == 0);
        var dockerConfig = Scratch.CreateDirectory("docker-wrong");
        const string wrong = "wrong-pass-7731";
        await File.WriteAllTextAsync(Path.Combine(dockerConfig, "config.json"), new JsonObject
        {
            ["auths"] = new JsonObject { [registry.Host] = new JsonObject { ["auth"] = Convert.ToBase64String(Encoding.UTF8.GetBytes($"{RegistryServer.User}:{wrong}")) } },
        }.ToJsonString());
        var rejected = await CliAsync(new Dictionary<string, string?> { ["DOCKER_CONFIG"] = dockerConfig },
            "containerize", bento.Tag, "--base-image", $"{registry.Host}/base:1", "--insecure", "--runtime", Runtime, "--push", "-t", target, "--verbose");
        AssertMentions(ErrorLine(rejected, 1), rejected, $"registry {registry.Host}", $"credentials from docker config {Path.Combine(dockerConfig, "config.json")} (auths)",
            $"bento login {registry.Host}");
        Assert.DoesNotContain(wrong, rejected.Stdout + rejected.Stderr);
        Assert.DoesNotContain(Convert.ToBase64String(Encoding.UTF8.GetBytes($"{RegistryServer.User}:{wrong}")), rejected.Stdout + rejected.Stderr);
    }
}
