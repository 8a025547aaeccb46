using System.Text.Json;
using Bento.Core;
using Bento.Core.Store;
using Bento.Images.Artifact;
using Bento.Images.Oci;
using Bento.Images.Registry;
using Bento.Images.Registry.Auth;
using Bento.Images.Tests.Infrastructure;

namespace Bento.Images.Tests.Registry;

/// <summary>
/// <c>bento push</c>/<c>bento pull</c>: a bento as a CNCF ModelPack artifact on a real docker-registry (anonymous,
/// Basic and token auth), read back by skopeo and by our pull into another store.
/// </summary>
public sealed class BentoArtifactTests(AnonymousRegistryFixture fixture) : RegistryTestBase, IClassFixture<AnonymousRegistryFixture>
{
    private string Host => fixture.Server.Host;

    private BentoStore NewStore(string name) => new(Scratch.Combine(name));

    private Task<StoredBento> BentoAsync(BentoStore store, string project = "project") =>
        Bentos.CreateAsync(store, Scratch.Combine(project), "name: travel\ndescription: a bento that travels\ninclude: [\"README.md\", \"bentofile.yaml\"]\n");

    [Fact]
    public async Task Pushed_bento_is_an_oci_artifact_skopeo_reads_and_pull_gives_the_same_version()
    {
        var store = NewStore("store");
        Directory.CreateDirectory(Scratch.Combine("project"));
        File.WriteAllText(Scratch.Combine("project", "README.md"), "# travel\n");
        var bento = await BentoAsync(store);
        var artifact = BentoArtifact.Create(bento, store);
        using var client = Client(Host);
        var reference = Ref(Host, "models/travel:v1");
        var result = await client.PushAsync(PushContent.From(artifact), [reference], null, CancellationToken.None);
        Assert.Equal(artifact.Manifest.Digest, result.Digest);

        // skopeo sees a valid OCI 1.1 artifact manifest in ModelPack's layout.
        var raw = Tools.Skopeo("inspect", "--raw", "--tls-verify=false", $"docker://{reference}");
        Assert.True(raw.ExitCode == 0, raw.All);
        using var doc = JsonDocument.Parse(raw.Output);
        var root = doc.RootElement;
        Assert.Equal(2, root.GetProperty("schemaVersion").GetInt32());
        Assert.Equal(MediaTypes.OciManifest, root.GetProperty("mediaType").GetString());
        Assert.Equal("application/vnd.cncf.model.manifest.v1+json", root.GetProperty("artifactType").GetString());
        Assert.Equal("application/vnd.cncf.model.config.v1+json", root.GetProperty("config").GetProperty("mediaType").GetString());
        var layers = root.GetProperty("layers").EnumerateArray().ToList();
        var byPath = layers.ToDictionary(l => l.GetProperty("annotations").GetProperty("org.cncf.model.filepath").GetString()!);
        var weights = bento.Manifest.Model.Files.Single(f => f.Path == "model.safetensors");
        Assert.Equal("application/vnd.cncf.model.weight.v1.raw", byPath["model/model.safetensors"].GetProperty("mediaType").GetString());
        Assert.Equal("sha256:" + weights.Sha256, byPath["model/model.safetensors"].GetProperty("digest").GetString());
        Assert.Equal("application/vnd.cncf.model.weight.config.v1.raw", byPath["model/config.json"].GetProperty("mediaType").GetString());
        Assert.Equal("application/vnd.cncf.model.doc.v1.raw", byPath["src/README.md"].GetProperty("mediaType").GetString());
        Assert.Equal(ModelPack.BentoManifestMediaType, byPath["bento.yaml"].GetProperty("mediaType").GetString());
        Assert.Equal(bento.Manifest.AllFiles().Count() + 1, layers.Count);
        // The model config: the spec's required objects, and one diffId per layer.
        var config = JsonDocument.Parse(artifact.ConfigBytes).RootElement;
        Assert.Equal("travel", config.GetProperty("descriptor").GetProperty("name").GetString());
        Assert.Equal("llama", config.GetProperty("descriptor").GetProperty("family").GetString());
        Assert.Equal("safetensors", config.GetProperty("config").GetProperty("format").GetString());
        Assert.Equal("layers", config.GetProperty("modelfs").GetProperty("type").GetString());
        Assert.Equal(layers.Select(l => l.GetProperty("digest").GetString()), config.GetProperty("modelfs").GetProperty("diffIds").EnumerateArray().Select(d => d.GetString()));
        // skopeo copies it, verifying every blob against its digest.
        Assert.Equal(artifact.Manifest.Digest, SkopeoCopyToOci(reference.ToString()));

        // Pulled into an empty store: the same version, every file intact.
        var other = NewStore("other");
        var pulled = await new BentoPuller(client, other).PullAsync(reference, null, null, CancellationToken.None);
        Assert.True(pulled.Created);
        Assert.Equal(bento.Manifest.Tag, pulled.Bento.Tag);
        Assert.Equal(artifact.Manifest.Digest, pulled.Digest);
        Assert.Empty(await DamageCheck.FindAsync(other, pulled.Bento));
        Assert.Equal(File.ReadAllBytes(bento.FilePath("model/model.safetensors")), File.ReadAllBytes(pulled.Bento.FilePath("model/model.safetensors")));
        Assert.Equal(File.ReadAllText(bento.FilePath("bento.yaml")), File.ReadAllText(pulled.Bento.FilePath("bento.yaml")));
        Assert.Equal(bento.Manifest.Version, other.ReadLatest("travel"));

        // Pulling again downloads nothing.
        var again = await new BentoPuller(client, other).PullAsync(reference, null, null, CancellationToken.None);
        Assert.False(again.Created);
        Assert.Equal(0, again.Transfer.BlobsDownloaded);
    }

    [Fact]
    public async Task Second_push_moves_almost_nothing_and_the_digest_is_reproducible()
    {
        var store = NewStore("store");
        var bento = await BentoAsync(store);
        var artifact = BentoArtifact.Create(bento, store);
        // Another store, another project directory, the same inputs: the same artifact.
        var elsewhere = NewStore("elsewhere");
        var twin = await BentoAsync(elsewhere, "project2");
        Assert.Equal(artifact.ManifestBytes, BentoArtifact.Create(twin, elsewhere).ManifestBytes);

        using var client = Client(Host);
        var reference = Ref(Host, "models/again:v1");
        var first = await client.PushAsync(PushContent.From(artifact), [reference], null, CancellationToken.None);
        Assert.True(first.Transfer.BlobsUploaded >= 3);
        var second = await client.PushAsync(PushContent.From(BentoArtifact.Create(bento, store)), [reference], null, CancellationToken.None);
        Assert.Equal(first.Digest, second.Digest);
        Assert.Equal(0, second.Transfer.BlobsUploaded);
        Assert.True(second.Transfer.BytesSent < 100 * 1024, $"{second.Transfer.BytesSent} bytes sent");
    }

    [Fact]
    public async Task A_container_image_is_not_pulled_as_a_bento()
    {
        using var client = Client(Host);
        var reference = Ref(Host, "models/an-image:1");
        await client.PushAsync(TestImages.Create(seed: 700), [reference], null, CancellationToken.None);
        var store = NewStore("store");
        var error = await Assert.ThrowsAsync<BentoException>(() => new BentoPuller(client, store).PullAsync(reference, null, null, CancellationToken.None));
        Assert.Contains("not a model artifact", error.Message);
        Assert.Contains("bento push", error.Message);
        Assert.False(Directory.Exists(store.BentosDirectory) && Directory.EnumerateFileSystemEntries(store.BentosDirectory).Any());
    }
}

/// <summary>Push and pull of a bento artifact with Basic and with token authentication.</summary>
public sealed class BentoArtifactAuthTests : RegistryTestBase
{
    private readonly List<IDisposable> _disposables = [];

    private RegistryClient AuthClient(string host)
    {
        var dir = Scratch.Combine("docker-" + Guid.NewGuid().ToString("N")[..6]);
        Directory.CreateDirectory(dir);
        var config = Path.Combine(dir, "config.json");
        File.WriteAllText(config, new System.Text.Json.Nodes.JsonObject
        {
            ["auths"] = new System.Text.Json.Nodes.JsonObject
            {
                [host] = new System.Text.Json.Nodes.JsonObject { ["auth"] = Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes($"{RegistryServer.User}:{RegistryServer.Password}")) },
            },
        }.ToJsonString());
        return Client(host, o => o with { Credentials = new CredentialOptions { DockerConfigPath = config, BentoAuthPath = Scratch.Combine("none.json") } });
    }

    private async Task RoundTripAsync(RegistryServer registry)
    {
        var store = new BentoStore(Scratch.Combine("store"));
        var bento = await Bentos.CreateAsync(store, Scratch.Combine("project"), "name: guarded\n");
        using var client = AuthClient(registry.Host);
        var reference = Ref(registry.Host, "private/guarded:1");
        await client.PushAsync(PushContent.From(BentoArtifact.Create(bento, store)), [reference], null, CancellationToken.None);
        var other = new BentoStore(Scratch.Combine("other"));
        var pulled = await new BentoPuller(client, other).PullAsync(reference, null, null, CancellationToken.None);
        Assert.Equal(bento.Manifest.Tag, pulled.Bento.Tag);
        Assert.Empty(await DamageCheck.FindAsync(other, pulled.Bento));

        using var anonymous = Client(registry.Host);
        await Assert.ThrowsAsync<RegistryAuthException>(() =>
            new BentoPuller(anonymous, new BentoStore(Scratch.Combine("anonymous"))).PullAsync(reference, null, null, CancellationToken.None));
    }

    [Fact]
    public async Task Basic_auth_push_and_pull()
    {
        var registry = new RegistryServer(RegistryAuth.Htpasswd);
        _disposables.Add(registry);
        await RoundTripAsync(registry);
        var inspect = Tools.Skopeo("inspect", "--raw", "--tls-verify=false", "--creds", $"{RegistryServer.User}:{RegistryServer.Password}", $"docker://{registry.Host}/private/guarded:1");
        Assert.True(inspect.ExitCode == 0, inspect.All);
        Assert.Contains(ModelPack.ArtifactType, inspect.Output);
    }

    [Fact]
    public async Task Token_auth_push_and_pull()
    {
        var tokens = new TokenServer();
        _disposables.Add(tokens);
        var registry = new RegistryServer(RegistryAuth.Token, tokenServer: tokens);
        _disposables.Add(registry);
        await RoundTripAsync(registry);
        Assert.Contains(tokens.Requests, r => r.Granted && r.Scopes.Contains("repository:private/guarded:pull,push"));
    }

    public override void Dispose()
    {
        foreach (var d in Enumerable.Reverse(_disposables)) d.Dispose();
        base.Dispose();
    }
}

/// <summary>A pull that fails midway (through the fault proxy) leaves nothing in the store.</summary>
public sealed class BentoArtifactFaultTests : RegistryTestBase
{
    private readonly RegistryServer _registry = new(RegistryAuth.Anonymous, relativeUrls: true);
    private readonly FaultProxy _proxy;

    public BentoArtifactFaultTests() => _proxy = new FaultProxy(_registry.Host);

    [Theory]
    [InlineData(FaultKind.CorruptResponse)]
    [InlineData(FaultKind.ServerError)]
    public async Task Interrupted_pull_leaves_nothing_behind(FaultKind kind)
    {
        var store = new BentoStore(Scratch.Combine("store"));
        var bento = await Bentos.CreateAsync(store, Scratch.Combine("project"), "name: fragile\n");
        using (var direct = Client(_registry.Host))
            await direct.PushAsync(PushContent.From(BentoArtifact.Create(bento, store)), [Ref(_registry.Host, "models/fragile:1")], null, CancellationToken.None);
        var weights = "sha256:" + bento.Manifest.Model.Files.Single(f => f.Path == "model.safetensors").Sha256;
        var fault = _proxy.Add(new Fault("GET", "/blobs/" + weights, kind, times: 1000));

        var target = new BentoStore(Scratch.Combine("target"));
        using var client = Client(_proxy.Host);
        var error = await Assert.ThrowsAnyAsync<RegistryException>(() =>
            new BentoPuller(client, target).PullAsync(Ref(_proxy.Host, "models/fragile:1"), null, null, CancellationToken.None));
        Assert.True(fault.Fired > 0);
        Assert.Contains(weights, error.Message);
        // The other blobs were downloaded (in parallel) before the failure; none of them stays.
        Assert.False(target.Exists("fragile", bento.Manifest.Version));
        Assert.Null(target.ReadLatest("fragile"));
        Assert.True(!Directory.Exists(target.BlobsDirectory) || !Directory.EnumerateFileSystemEntries(target.BlobsDirectory).Any());
        Assert.True(!Directory.Exists(target.TempDirectory) || !Directory.EnumerateFileSystemEntries(target.TempDirectory).Any());

        // Once the registry behaves, the same pull succeeds.
        _proxy.Faults.Clear();
        var pulled = await new BentoPuller(client, target).PullAsync(Ref(_proxy.Host, "models/fragile:1"), null, null, CancellationToken.None);
        Assert.Equal(bento.Manifest.Tag, pulled.Bento.Tag);
    }

    public override void Dispose()
    {
        _proxy.Dispose();
        _registry.Dispose();
        base.Dispose();
    }
}
