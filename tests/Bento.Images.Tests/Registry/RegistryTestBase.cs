using System.Text.Json;
using Bento.Images.Oci;
using Bento.Images.Registry;

namespace Bento.Images.Tests.Registry;

/// <summary>An anonymous docker-registry shared by one test class.</summary>
public sealed class AnonymousRegistryFixture : IDisposable
{
    public RegistryServer Server { get; } = new(RegistryAuth.Anonymous);
    public void Dispose() => Server.Dispose();
}

/// <summary>Helpers shared by the registry tests: clients with fast retries, skopeo checks.</summary>
public abstract class RegistryTestBase : IDisposable
{
    protected TempDirectory Scratch { get; } = new("bento-regtest-");

    /// <summary>Backoff short enough for tests; Retry-After still honoured as sent.</summary>
    protected static RetryOptions FastRetry => new() { MaxAttempts = 6, BaseDelay = TimeSpan.FromMilliseconds(20), MaxDelay = TimeSpan.FromMilliseconds(200) };

    protected RegistryClient Client(string insecureHost, Func<RegistryOptions, RegistryOptions>? adjust = null)
    {
        var options = new RegistryOptions
        {
            Insecure = [insecureHost],
            Retry = FastRetry,
            Credentials = new CredentialOptions { Anonymous = true },
            CacheDirectory = Scratch.Combine("cache"),
            RequestTimeout = TimeSpan.FromSeconds(20),
        };
        return new RegistryClient(adjust is null ? options : adjust(options));
    }

    protected static ImageReference Ref(string host, string repositoryAndTag) => ImageReference.Parse($"{host}/{repositoryAndTag}");

    /// <summary><c>skopeo inspect</c>: the manifest digest and layer digests as an independent client sees them.</summary>
    protected static (string Digest, string[] Layers) SkopeoInspect(string reference, string? creds = null)
    {
        var args = new List<string> { "inspect", "--tls-verify=false" };
        if (creds is not null) args.AddRange(["--creds", creds]);
        args.Add("docker://" + reference);
        var run = Tools.Run("skopeo", args);
        Assert.True(run.ExitCode == 0, $"skopeo inspect {reference} failed: {run.All}");
        using var doc = JsonDocument.Parse(run.Output);
        return (doc.RootElement.GetProperty("Digest").GetString()!,
            doc.RootElement.GetProperty("Layers").EnumerateArray().Select(l => l.GetString()!).ToArray());
    }

    /// <summary><c>skopeo copy</c> to an OCI layout (skopeo verifies every blob's digest); returns the copied manifest digest.</summary>
    protected string SkopeoCopyToOci(string reference, string? creds = null)
    {
        var dir = Scratch.Combine("oci-" + Guid.NewGuid().ToString("N")[..8]);
        var args = new List<string> { "copy", "--src-tls-verify=false", "--dest-oci-accept-uncompressed-layers", "--preserve-digests" };
        if (creds is not null) args.AddRange(["--src-creds", creds]);
        args.AddRange(["docker://" + reference, $"oci:{dir}:copied"]);
        var run = Tools.Run("skopeo", args);
        Assert.True(run.ExitCode == 0, $"skopeo copy {reference} failed: {run.All}");
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "index.json")));
        return doc.RootElement.GetProperty("manifests")[0].GetProperty("digest").GetString()!;
    }

    protected static void AssertSameImage(Image expected, (string Digest, string[] Layers) seen)
    {
        Assert.Equal(expected.Manifest.Digest, seen.Digest);
        Assert.Equal(expected.Layers.Select(l => l.Blob.Descriptor.Digest), seen.Layers);
    }

    protected static long ImageBytes(Image image) => image.Config.Size + image.Layers.Sum(l => l.Blob.Descriptor.Size);

    public virtual void Dispose() => Scratch.Dispose();
}
