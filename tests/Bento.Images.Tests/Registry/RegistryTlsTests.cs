using Bento.Images.Registry;

namespace Bento.Images.Tests.Registry;

/// <summary>A registry serving TLS with a self-signed certificate: refused unless listed as insecure.</summary>
public sealed class RegistryTlsTests : RegistryTestBase
{
    private readonly RegistryServer _registry = new(RegistryAuth.Anonymous, tls: true);

    [Fact]
    public async Task Self_signed_certificate_is_refused_with_advice()
    {
        using var client = new RegistryClient(new RegistryOptions { Credentials = new() { Anonymous = true }, Retry = FastRetry, CacheDirectory = Scratch.Combine("cache") });
        var error = await Assert.ThrowsAsync<RegistryException>(() =>
            client.PushAsync(TestImages.Create(seed: 400), [Ref(_registry.Host, "tls/app:1")], null, CancellationToken.None));
        Assert.Contains($"cannot connect to registry {_registry.Host} over https", error.Message);
        Assert.Contains($"--insecure {_registry.Host}", error.Message);
    }

    [Fact]
    public async Task Insecure_registry_accepts_its_self_signed_certificate_and_stays_on_https()
    {
        var image = TestImages.Create(seed: 401);
        using var client = Client(_registry.Host);
        await client.PushAsync(image, [Ref(_registry.Host, "tls/app:1")], null, CancellationToken.None);
        AssertSameImage(image, SkopeoInspect($"{_registry.Host}/tls/app:1"));
        // Over plain http the TLS listener would have answered 400 to every request; the push worked, so it used https.
        Assert.DoesNotContain("http: TLS handshake error", _registry.Log().Split('\n').Where(l => l.Contains("first record does not look like a TLS handshake")));
    }

    public override void Dispose()
    {
        _registry.Dispose();
        base.Dispose();
    }
}
