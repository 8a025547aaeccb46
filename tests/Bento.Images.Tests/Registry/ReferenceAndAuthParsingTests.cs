using System.Text;
using System.Text.Json.Nodes;
using Bento.Core;
using Bento.Images.Registry;
using Bento.Images.Registry.Auth;

namespace Bento.Images.Tests.Registry;

public sealed class ImageReferenceTests
{
    [Theory]
    [InlineData("ubuntu", "registry-1.docker.io", "library/ubuntu", "latest", null)]
    [InlineData("ubuntu:22.04", "registry-1.docker.io", "library/ubuntu", "22.04", null)]
    [InlineData("docker.io/ubuntu", "registry-1.docker.io", "library/ubuntu", "latest", null)]
    [InlineData("index.docker.io/library/ubuntu:jammy", "registry-1.docker.io", "library/ubuntu", "jammy", null)]
    [InlineData("bitnami/redis:7", "registry-1.docker.io", "bitnami/redis", "7", null)]
    [InlineData("localhost/app", "localhost", "app", "latest", null)]
    [InlineData("localhost:5000/team/app:v1.2_3-rc", "localhost:5000", "team/app", "v1.2_3-rc", null)]
    [InlineData("127.0.0.1:5000/app", "127.0.0.1:5000", "app", "latest", null)]
    [InlineData("[::1]:5000/app:1", "[::1]:5000", "app", "1", null)]
    [InlineData("ghcr.io/Owner-Name/x", null, null, null, null)] // uppercase repository: invalid (checked below)
    [InlineData("GHCR.io/owner/model.v2__x--y:tag", "ghcr.io", "owner/model.v2__x--y", "tag", null)]
    [InlineData("registry.example.com:443/a/b/c@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "registry.example.com:443", "a/b/c", null, "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")]
    [InlineData("ghcr.io/a/b:1@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "ghcr.io", "a/b", "1", "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")]
    public void Parses_and_normalises(string text, string? registry, string? repository, string? tag, string? digest)
    {
        if (registry is null)
        {
            Assert.False(ImageReference.TryParse(text, out _, out _));
            return;
        }
        var r = ImageReference.Parse(text);
        Assert.Equal((registry, repository, tag, digest), (r.Registry, r.Repository, r.Tag, r.Digest));
        Assert.Equal(r, ImageReference.Parse(r.ToString())); // the canonical form parses to itself
    }

    [Fact]
    public void Docker_hub_short_names_expand_fully()
    {
        Assert.Equal("registry-1.docker.io/library/ubuntu:latest", ImageReference.Parse("ubuntu").ToString());
        Assert.True(ImageReference.Parse("docker.io/library/ubuntu").IsDockerHub);
        Assert.Equal("library/ubuntu:22.04", ImageReference.Parse("ubuntu").WithTag("22.04").ToString()[(ImageReference.DockerHubRegistry.Length + 1)..]);
    }

    [Theory]
    [InlineData("", "it is empty")]
    [InlineData(" ubuntu", "leading or trailing whitespace")]
    [InlineData("https://ghcr.io/a/b", "no scheme")]
    [InlineData("ghcr.io/Owner/x", "must be lowercase ('Owner')")]
    [InlineData("ubuntu:", "the tag after ':' is empty")]
    [InlineData("ubuntu:-bad", "the tag '-bad' is invalid")]
    [InlineData("ubuntu@sha256:abc", "the digest 'sha256:abc' is invalid")]
    [InlineData("localhost:99999/app", "the registry 'localhost:99999' is not a valid host[:port]")]
    [InlineData("ghcr.io/a//b", "empty path component")]
    [InlineData("ghcr.io/a/b/", "empty path component")]
    [InlineData("ghcr.io/", "the repository name is empty")]
    [InlineData("ghcr.io/a_-b", "the repository path component 'a_-b' is invalid")]
    public void Invalid_references_explain_themselves(string text, string reason)
    {
        var error = Assert.Throws<UsageException>(() => ImageReference.Parse(text));
        Assert.StartsWith($"invalid image reference '{text}': ", error.Message);
        Assert.Contains(reason, error.Message);
        Assert.Equal(2, error.ExitCode);
    }

    [Theory]
    [InlineData("me:p4ssw0rd-123@ghcr.io/me/app:1", "invalid image reference '***@ghcr.io/me/app:1'")]
    [InlineData("https://me:p4ssw0rd-123@ghcr.io/me/app", "invalid image reference 'https://***@ghcr.io/me/app'")]
    [InlineData("p4ssw0rd-123@localhost:5000/app", "invalid image reference '***@localhost:5000/app'")]
    public void References_with_credentials_are_refused_without_repeating_them(string text, string start)
    {
        var error = Assert.Throws<UsageException>(() => ImageReference.Parse(text));
        Assert.StartsWith(start + ": ", error.Message);
        Assert.Contains("contains credentials", error.Message);
        Assert.Contains("bento login", error.Message);
        Assert.DoesNotContain("p4ssw0rd", error.ToString());
        Assert.False(ImageReference.TryParse(text, out _, out var reason));
        Assert.DoesNotContain("p4ssw0rd", reason);
    }

    [Theory]
    [InlineData("ubuntu@sha256:abc")]
    [InlineData("ubuntu:22.04@sha256:abc")]
    [InlineData("ghcr.io/a/b@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")]
    [InlineData("localhost:5000/team/app:v1")]
    public void Redact_leaves_references_without_credentials_alone(string text) => Assert.Equal(text, ImageReference.Redact(text));

    [Theory]
    [InlineData("error: invalid -t 'https://me:tok3n@ghcr.io/me/app': x", "error: invalid -t 'https://***@ghcr.io/me/app': x")]
    [InlineData("pushing me:tok3n@ghcr.io/me/app failed", "pushing ***@ghcr.io/me/app failed")]
    [InlineData("base tok3n@localhost:5000/app, and http://u:tok3n@10.0.0.1:80/v2/", "base ***@localhost:5000/app, and http://***@10.0.0.1:80/v2/")]
    [InlineData("no image in ghcr.io/a/b@sha256:0123 (alpha:1f2e)", "no image in ghcr.io/a/b@sha256:0123 (alpha:1f2e)")]
    [InlineData("mail me@example.com about /tmp/a@b/c and ubuntu:22.04@sha256:ab", "mail me@example.com about /tmp/a@b/c and ubuntu:22.04@sha256:ab")]
    public void Messages_lose_pasted_credentials_and_nothing_else(string text, string expected) => Assert.Equal(expected, Redaction.Message(text));

    [Theory]
    [InlineData("docker.io", "registry-1.docker.io")]
    [InlineData("https://index.docker.io/v1/", "registry-1.docker.io")]
    [InlineData("GHCR.IO", "ghcr.io")]
    [InlineData("http://localhost:5000", "localhost:5000")]
    [InlineData("not a host", null)]
    public void Registry_names_normalise(string text, string? expected) => Assert.Equal(expected, ImageReference.NormalizeRegistry(text));
}

public sealed class AuthChallengeTests
{
    [Fact]
    public void Parses_bearer_with_quoted_parameters()
    {
        var challenges = AuthChallenge.Parse(["Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\",scope=\"repository:library/ubuntu:pull,push\",error=\"insufficient_scope\""]);
        var c = Assert.Single(challenges);
        Assert.True(c.IsBearer);
        Assert.Equal("https://auth.docker.io/token", c.Realm);
        Assert.Equal("registry.docker.io", c.Service);
        Assert.Equal("repository:library/ubuntu:pull,push", c.Scope);
        Assert.Equal("insufficient_scope", c.Error);
    }

    [Fact]
    public void Several_challenges_in_one_header_and_bearer_preferred()
    {
        var challenges = AuthChallenge.Parse(["Basic realm=\"Registry Realm\", Bearer realm=\"https://a/token\", service=svc", "Negotiate"]);
        Assert.Equal(["Basic", "Bearer", "Negotiate"], challenges.Select(c => c.Scheme));
        Assert.Equal("Registry Realm", challenges[0].Realm);
        Assert.Equal("svc", challenges[1].Service);
        Assert.Equal("Bearer", AuthChallenge.Preferred(challenges)!.Scheme);
        Assert.True(AuthChallenge.Preferred(AuthChallenge.Parse(["basic realm=x"]))!.IsBasic);
    }

    [Fact]
    public void Escaped_quotes_inside_values()
    {
        var c = Assert.Single(AuthChallenge.Parse(["Bearer realm=\"https://a/t?x=\\\"y\\\"\""]));
        Assert.Equal("https://a/t?x=\"y\"", c.Realm);
    }
}

public sealed class CredentialResolverTests : IDisposable
{
    private readonly TempDirectory _dir = new("bento-regtest-");

    private string Write(string name, JsonObject json)
    {
        var path = _dir.Combine(name);
        File.WriteAllText(path, json.ToJsonString());
        return path;
    }

    private static string Auth(string user, string password) => Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}"));

    [Fact]
    public void Docker_hub_matches_the_index_url_key()
    {
        var config = Write("config.json", new JsonObject { ["auths"] = new JsonObject { ["https://index.docker.io/v1/"] = new JsonObject { ["auth"] = Auth("hubuser", "pw:with:colons") } } });
        var lookup = new CredentialResolver(new CredentialOptions { DockerConfigPath = config, BentoAuthPath = _dir.Combine("none.json") })
            .Resolve(ImageReference.Parse("ubuntu").Registry);
        Assert.Equal("hubuser", lookup.Credential!.Username);
        Assert.Equal("pw:with:colons", lookup.Credential.Secret);
        Assert.Equal($"credentials from docker config {config} (auths)", lookup.Describe());
        Assert.DoesNotContain("pw:with", lookup.Credential.ToString());
    }

    [Fact]
    public void Bento_login_file_comes_first_then_docker()
    {
        var docker = Write("config.json", new JsonObject { ["auths"] = new JsonObject { ["ghcr.io"] = new JsonObject { ["auth"] = Auth("docker", "d") } } });
        var bento = new BentoCredentialStore(_dir.Combine("auth.json"));
        var resolver = new CredentialResolver(new CredentialOptions { DockerConfigPath = docker, BentoAuthPath = bento.Path });
        Assert.Equal("docker", resolver.Resolve("ghcr.io").Credential!.Username);
        bento.Save("ghcr.io", "bento", "b");
        var lookup = resolver.Resolve("ghcr.io");
        Assert.Equal("bento", lookup.Credential!.Username);
        Assert.StartsWith("credentials from bento login file", lookup.Describe());
        Assert.Null(resolver.Resolve("quay.io").Credential);
        Assert.Contains("looked in bento login file", resolver.Resolve("quay.io").Describe());
    }

    [Fact]
    public void Identity_tokens_are_recognised()
    {
        var config = Write("config.json", new JsonObject { ["auths"] = new JsonObject { ["myregistry.azurecr.io"] = new JsonObject { ["identitytoken"] = "refresh-me" } } });
        var c = new CredentialResolver(new CredentialOptions { DockerConfigPath = config, BentoAuthPath = _dir.Combine("none.json") }).Resolve("myregistry.azurecr.io").Credential!;
        Assert.True(c.IsIdentityToken);
        Assert.Equal("refresh-me", c.Secret);
    }

    [Fact]
    public void Missing_helper_and_bad_base64_are_clear_errors()
    {
        var helper = Write("helper.json", new JsonObject { ["credsStore"] = "nonexistent-helper" });
        var e1 = Assert.Throws<RegistryException>(() => new CredentialResolver(new CredentialOptions { DockerConfigPath = helper, BentoAuthPath = _dir.Combine("none.json"), HelperSearchPath = _dir.Path }).Resolve("ghcr.io"));
        Assert.Contains("docker-credential-nonexistent-helper' is not on PATH", e1.Message);
        var bad = Write("bad.json", new JsonObject { ["auths"] = new JsonObject { ["ghcr.io"] = new JsonObject { ["auth"] = "%%%" } } });
        var e2 = Assert.Throws<RegistryException>(() => new CredentialResolver(new CredentialOptions { DockerConfigPath = bad, BentoAuthPath = _dir.Combine("none.json") }).Resolve("ghcr.io"));
        Assert.Contains("not base64", e2.Message);
    }

    /// <summary>A helper that fails after printing its JSON answer: the error quotes neither that line nor the secret.</summary>
    [Fact]
    public void A_failing_helper_is_quoted_without_its_secret()
    {
        var bin = _dir.Combine("bin");
        Directory.CreateDirectory(bin);
        var script = Path.Combine(bin, "docker-credential-leaky");
        File.WriteAllText(script, "#!/bin/sh\ncat >/dev/null\nprintf '{\"ServerURL\":\"ghcr.io\",\"Username\":\"u\",\"Secret\":\"leaky-secret-42\"}'\nexit 3\n");
        File.SetUnixFileMode(script, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var config = Write("leaky.json", new JsonObject { ["credsStore"] = "leaky" });
        var e = Assert.Throws<RegistryException>(() =>
            new CredentialResolver(new CredentialOptions { DockerConfigPath = config, BentoAuthPath = _dir.Combine("none.json"), HelperSearchPath = bin }).Resolve("ghcr.io"));
        Assert.Contains("'docker-credential-leaky get' failed (exit 3)", e.Message);
        Assert.DoesNotContain("leaky-secret-42", e.ToString());

        // Its complaint on stderr is quoted, though: that is what says what is wrong.
        File.WriteAllText(script, "#!/bin/sh\ncat >/dev/null\necho 'keychain is locked' >&2\nexit 1\n");
        var e2 = Assert.Throws<RegistryException>(() =>
            new CredentialResolver(new CredentialOptions { DockerConfigPath = config, BentoAuthPath = _dir.Combine("none.json"), HelperSearchPath = bin }).Resolve("ghcr.io"));
        Assert.Contains("keychain is locked", e2.Message);
    }

    public void Dispose() => _dir.Dispose();
}
