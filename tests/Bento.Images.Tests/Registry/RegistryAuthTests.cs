using System.Text;
using System.Text.Json.Nodes;
using Bento.Images.Oci;
using Bento.Images.Registry;
using Bento.Images.Registry.Auth;

namespace Bento.Images.Tests.Registry;

/// <summary>A docker-registry with htpasswd Basic auth, shared by one test class.</summary>
public sealed class BasicAuthRegistryFixture : IDisposable
{
    public RegistryServer Server { get; } = new(RegistryAuth.Htpasswd);
    public void Dispose() => Server.Dispose();
}

/// <summary>Basic auth with credentials from docker's config.json (auths, credsStore, credHelpers) and from bento login.</summary>
public sealed class RegistryBasicAuthTests(BasicAuthRegistryFixture fixture) : RegistryTestBase, IClassFixture<BasicAuthRegistryFixture>
{
    private const string Creds = $"{RegistryServer.User}:{RegistryServer.Password}";
    private string Host => fixture.Server.Host;

    private RegistryClient AuthClient(CredentialOptions credentials) => Client(Host, o => o with { Credentials = credentials });

    private string DockerConfig(JsonObject config)
    {
        var dir = Scratch.Combine("docker-" + Guid.NewGuid().ToString("N")[..6]);
        Directory.CreateDirectory(dir);
        var path = Path.Combine(dir, "config.json");
        File.WriteAllText(path, config.ToJsonString());
        return path;
    }

    private static string Base64(string text) => Convert.ToBase64String(Encoding.UTF8.GetBytes(text));

    /// <summary>A fake docker-credential-NAME on a private PATH directory; it logs the server URL it was asked for.</summary>
    private (string SearchPath, string LogPath) Helper(string name, string user, string secret)
    {
        var dir = Scratch.Combine("bin-" + Guid.NewGuid().ToString("N")[..6]);
        Directory.CreateDirectory(dir);
        var log = Path.Combine(dir, "asked.log");
        var script = Path.Combine(dir, "docker-credential-" + name);
        File.WriteAllText(script, $$"""
            #!/bin/sh
            [ "$1" = "get" ] || exit 1
            url=$(cat)
            echo "$url" >> '{{log}}'
            if [ "$url" = "{{Host}}" ]; then
              printf '{"ServerURL":"%s","Username":"{{user}}","Secret":"{{secret}}"}' "$url"
            else
              echo "credentials not found in native keychain"
              exit 1
            fi
            """);
        File.SetUnixFileMode(script, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return (dir + Path.PathSeparator + Environment.GetEnvironmentVariable("PATH"), log);
    }

    [Fact]
    public async Task Docker_config_auths_credentials_push_and_pull()
    {
        var config = DockerConfig(new JsonObject { ["auths"] = new JsonObject { [Host] = new JsonObject { ["auth"] = Base64(Creds) } } });
        using var client = AuthClient(new CredentialOptions { DockerConfigPath = config, BentoAuthPath = Scratch.Combine("none.json") });
        var image = TestImages.Create(seed: 200);
        var reference = Ref(Host, "auth/auths:1");
        await client.PushAsync(image, [reference], null, CancellationToken.None);
        AssertSameImage(image, SkopeoInspect(reference.ToString(), Creds));
        var pulled = await new RegistryImageSource(client, reference).GetAsync(new Platform("linux", "amd64"), CancellationToken.None);
        Assert.Equal(image.Manifest.Digest, pulled.Manifest.Digest);
    }

    [Fact]
    public async Task CredsStore_helper_on_path_supplies_credentials()
    {
        var (path, log) = Helper("test", RegistryServer.User, RegistryServer.Password);
        var config = DockerConfig(new JsonObject { ["credsStore"] = "test", ["auths"] = new JsonObject { [Host] = new JsonObject() } });
        using var client = AuthClient(new CredentialOptions { DockerConfigPath = config, HelperSearchPath = path, BentoAuthPath = Scratch.Combine("none.json") });
        var image = TestImages.Create(seed: 201);
        await client.PushAsync(image, [Ref(Host, "auth/store:1")], null, CancellationToken.None);
        AssertSameImage(image, SkopeoInspect($"{Host}/auth/store:1", Creds));
        Assert.Equal([Host], File.ReadAllLines(log)); // asked once, with the registry's host:port
    }

    [Fact]
    public async Task CredHelpers_entry_wins_over_inline_auths()
    {
        var (path, _) = Helper("perhost", RegistryServer.User, RegistryServer.Password);
        var config = DockerConfig(new JsonObject
        {
            ["credHelpers"] = new JsonObject { [Host] = "perhost" },
            ["auths"] = new JsonObject { [Host] = new JsonObject { ["auth"] = Base64("tester:wrong") } },
        });
        using var client = AuthClient(new CredentialOptions { DockerConfigPath = config, HelperSearchPath = path, BentoAuthPath = Scratch.Combine("none.json") });
        await client.PushAsync(TestImages.Create(seed: 202), [Ref(Host, "auth/helpers:1")], null, CancellationToken.None);
    }

    [Fact]
    public async Task Wrong_password_names_the_registry_and_the_source_but_not_the_password()
    {
        var config = DockerConfig(new JsonObject { ["auths"] = new JsonObject { [Host] = new JsonObject { ["username"] = RegistryServer.User, ["password"] = "not-the-password" } } });
        using var client = AuthClient(new CredentialOptions { DockerConfigPath = config, BentoAuthPath = Scratch.Combine("none.json") });
        var error = await Assert.ThrowsAsync<RegistryAuthException>(() =>
            client.PushAsync(TestImages.Create(seed: 203), [Ref(Host, "auth/wrong:1")], null, CancellationToken.None));
        Assert.Contains($"registry {Host}", error.Message);
        Assert.Contains($"credentials from docker config {config} (auths)", error.Message);
        Assert.Contains("401", error.Message);
        Assert.Contains($"run 'bento login {Host}'", error.Message); // what to do
        Assert.DoesNotContain("not-the-password", error.ToString());
    }

    [Fact]
    public async Task Credentials_a_helper_supplied_and_the_registry_rejected_name_the_helper_and_say_to_log_in()
    {
        var (path, _) = Helper("perhost", RegistryServer.User, "helper-knows-a-wrong-one");
        var config = DockerConfig(new JsonObject { ["credHelpers"] = new JsonObject { [Host] = "perhost" } });
        using var client = AuthClient(new CredentialOptions { DockerConfigPath = config, HelperSearchPath = path, BentoAuthPath = Scratch.Combine("none.json") });
        var error = await Assert.ThrowsAsync<RegistryAuthException>(() =>
            new RegistryImageSource(client, Ref(Host, "auth/helper-wrong:1")).GetAsync(new Platform("linux", "amd64"), CancellationToken.None));
        Assert.Contains($"authentication to registry {Host} failed", error.Message);
        Assert.Contains($"credentials from docker config {config} (credHelpers: docker-credential-perhost)", error.Message);
        Assert.Contains($"run 'bento login {Host}'", error.Message);
        Assert.DoesNotContain("helper-knows-a-wrong-one", error.ToString());
    }

    [Fact]
    public async Task An_anonymous_client_is_told_it_is_anonymous_and_how_to_log_in()
    {
        using var client = Client(Host); // CredentialOptions.Anonymous: no lookup at all
        var error = await Assert.ThrowsAsync<RegistryAuthException>(() =>
            client.PushAsync(TestImages.Create(seed: 205), [Ref(Host, "auth/anonymous:1")], null, CancellationToken.None));
        Assert.Contains($"registry {Host} requires authentication", error.Message);
        Assert.Contains("no credentials (anonymous)", error.Message);
        Assert.Contains($"run 'bento login {Host}'", error.Message);
    }

    [Fact]
    public async Task Missing_credentials_say_where_they_were_looked_for()
    {
        var bentoFile = Scratch.Combine("none.json");
        var dockerFile = Scratch.Combine("absent", "config.json");
        using var client = AuthClient(new CredentialOptions { DockerConfigPath = dockerFile, BentoAuthPath = bentoFile });
        var error = await Assert.ThrowsAsync<RegistryAuthException>(() =>
            new RegistryImageSource(client, Ref(Host, "auth/none:1")).GetAsync(new Platform("linux", "amd64"), CancellationToken.None));
        Assert.Contains($"registry {Host} requires authentication", error.Message);
        Assert.Contains($"bento login file {bentoFile}", error.Message);
        Assert.Contains($"docker config {dockerFile} (absent)", error.Message);
        Assert.Contains($"bento login {Host}", error.Message);
    }

    [Fact]
    public async Task Login_checks_the_password_and_saves_an_owner_only_file_used_first()
    {
        using var anonymous = Client(Host);
        var rejected = await Assert.ThrowsAsync<RegistryAuthException>(() =>
            anonymous.VerifyCredentialsAsync(Host, RegistryServer.User, "nope", CancellationToken.None));
        Assert.Contains(Host, rejected.Message);
        Assert.Contains("bento login", rejected.Message);
        await anonymous.VerifyCredentialsAsync(Host, RegistryServer.User, RegistryServer.Password, CancellationToken.None);

        var store = new BentoCredentialStore(Scratch.Combine("home", "auth.json"));
        store.Save(Host, RegistryServer.User, RegistryServer.Password);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(store.Path));

        // The bento file is consulted before docker's config (which here holds a wrong password).
        var config = DockerConfig(new JsonObject { ["auths"] = new JsonObject { [Host] = new JsonObject { ["auth"] = Base64("tester:wrong") } } });
        using var client = AuthClient(new CredentialOptions { DockerConfigPath = config, BentoAuthPath = store.Path });
        await client.PushAsync(TestImages.Create(seed: 204), [Ref(Host, "auth/login:1")], null, CancellationToken.None);

        Assert.True(store.Remove(Host));
        Assert.False(store.Remove(Host));
    }
}

/// <summary>
/// Bearer tokens: docker-registry with <c>auth.token</c> trusting a certificate generated here, and a token service
/// written here that checks Basic credentials (or an OAuth2 password grant) and signs JWTs.
/// </summary>
public sealed class RegistryTokenAuthTests : RegistryTestBase
{
    private const string Creds = $"{RegistryServer.User}:{RegistryServer.Password}";

    private (TokenServer Tokens, RegistryServer Registry) Start(bool postOnly = false)
    {
        var tokens = new TokenServer(postOnly);
        _disposables.Add(tokens);
        var registry = new RegistryServer(RegistryAuth.Token, tokenServer: tokens);
        _disposables.Add(registry);
        return (tokens, registry);
    }

    private readonly List<IDisposable> _disposables = [];

    private RegistryClient TokenClient(string host, string password = RegistryServer.Password)
    {
        var dir = Scratch.Combine("docker-" + Guid.NewGuid().ToString("N")[..6]);
        Directory.CreateDirectory(dir);
        var config = Path.Combine(dir, "config.json");
        File.WriteAllText(config, new JsonObject
        {
            ["auths"] = new JsonObject { [host] = new JsonObject { ["auth"] = Convert.ToBase64String(Encoding.UTF8.GetBytes($"{RegistryServer.User}:{password}")) } },
        }.ToJsonString());
        return Client(host, o => o with { Credentials = new CredentialOptions { DockerConfigPath = config, BentoAuthPath = Scratch.Combine("none.json") } });
    }

    [Fact]
    public async Task Bearer_tokens_are_fetched_with_basic_credentials_and_cached_per_scope()
    {
        var (tokens, registry) = Start();
        using var client = TokenClient(registry.Host);
        var image = TestImages.Create(seed: 300);
        var reference = Ref(registry.Host, "token/app:1");
        await client.PushAsync(image, [reference], null, CancellationToken.None);
        await client.PushAsync(image, [reference], null, CancellationToken.None);
        var pulled = await new RegistryImageSource(client, reference).GetAsync(new Platform("linux", "amd64"), CancellationToken.None);
        Assert.Equal(image.Manifest.Digest, pulled.Manifest.Digest);

        var requests = tokens.Requests.ToArray();
        Assert.All(requests, r => Assert.True(r.Granted && r.Method == "GET"));
        // One token for push (both pushes, all blobs) and one for pull.
        Assert.Equal(2, requests.Length);
        Assert.Equal(["repository:token/app:pull,push"], requests[0].Scopes);
        Assert.Equal(["repository:token/app:pull"], requests[1].Scopes);
        AssertSameImage(image, SkopeoInspect(reference.ToString(), Creds)); // skopeo accepts the same token service
    }

    [Fact]
    public async Task Token_service_that_only_takes_post_gets_an_oauth2_password_grant()
    {
        var (tokens, registry) = Start(postOnly: true);
        using var client = TokenClient(registry.Host);
        var image = TestImages.Create(seed: 301);
        await client.PushAsync(image, [Ref(registry.Host, "token/post:1")], null, CancellationToken.None);
        Assert.Contains(tokens.Requests, r => r.Method == "POST" && r.Granted);
        // skopeo cannot use a POST-only token service; our own pull checks the result instead.
        var pulled = await new RegistryImageSource(client, Ref(registry.Host, "token/post:1")).GetAsync(new Platform("linux", "amd64"), CancellationToken.None);
        Assert.Equal(image.Manifest.Digest, pulled.Manifest.Digest);
    }

    [Fact]
    public async Task Cross_repository_mount_asks_for_pull_on_the_source()
    {
        var (tokens, registry) = Start();
        using var client = TokenClient(registry.Host);
        var image = TestImages.Create(seed: 302);
        var result = await client.PushAsync(image, [Ref(registry.Host, "token/src:1"), Ref(registry.Host, "token/dst:1")], null, CancellationToken.None);
        Assert.Equal(4, result.Transfer.BlobsMounted);
        Assert.Contains(tokens.Requests, r => r.Scopes.Contains("repository:token/dst:pull,push") && r.Scopes.Contains("repository:token/src:pull"));
    }

    [Fact]
    public async Task Rejected_credentials_name_the_token_service_and_the_source()
    {
        var (tokens, registry) = Start();
        using var client = TokenClient(registry.Host, password: "bad-password");
        var error = await Assert.ThrowsAsync<RegistryAuthException>(() =>
            client.PushAsync(TestImages.Create(seed: 303), [Ref(registry.Host, "token/denied:1")], null, CancellationToken.None));
        Assert.Contains($"registry {registry.Host}", error.Message);
        Assert.Contains(new Uri(tokens.Realm).Authority, error.Message);
        Assert.Contains("credentials from docker config", error.Message);
        Assert.Contains($"run 'bento login {registry.Host}'", error.Message);
        Assert.DoesNotContain("bad-password", error.ToString());
    }

    public override void Dispose()
    {
        foreach (var d in Enumerable.Reverse(_disposables)) d.Dispose();
        base.Dispose();
    }
}
