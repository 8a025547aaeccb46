using Bento.Images.Oci;
using Bento.Images.Registry;

namespace Bento.Images.Tests.Registry;

/// <summary>Push and pull against a real docker-registry, checked with skopeo.</summary>
public sealed class RegistryPushPullTests(AnonymousRegistryFixture fixture) : RegistryTestBase, IClassFixture<AnonymousRegistryFixture>
{
    private string Host => fixture.Server.Host;

    [Fact]
    public async Task Pushed_image_is_what_skopeo_inspects_and_copies()
    {
        var image = TestImages.Create(seed: 1);
        using var client = Client(Host);
        var observer = new RecordingObserver();
        var sink = new RegistrySink(client, observer);
        var published = await sink.WriteAsync(image, [$"{Host}/push/basic:v1", $"{Host}/push/basic:v2"], CancellationToken.None);

        Assert.Equal(image.Manifest.Digest, published.Digest);
        Assert.Equal(image.Manifest.Digest, published.Push!.Digest);
        Assert.Equal([$"{Host}/push/basic@{image.Manifest.Digest}"], published.References);
        Assert.Equal([$"{Host}/push/basic:v1", $"{Host}/push/basic:v2"], published.Names);
        Assert.Equal(4, observer.Count("done "));
        Assert.Equal(2, observer.Count("manifest "));
        AssertSameImage(image, SkopeoInspect($"{Host}/push/basic:v1"));
        Assert.Equal(image.Manifest.Digest, SkopeoCopyToOci($"{Host}/push/basic:v2"));
    }

    [Fact]
    public async Task Pulled_image_matches_the_pushed_one_and_is_cached()
    {
        var image = TestImages.Create(seed: 2);
        using var client = Client(Host);
        var reference = Ref(Host, "pull/roundtrip:1.0");
        await client.PushAsync(image, [reference], null, CancellationToken.None);

        var source = new RegistryImageSource(client, reference);
        var pulled = await source.GetAsync(new Platform("linux", "amd64"), CancellationToken.None);
        Assert.Equal(image.Manifest.Digest, pulled.Manifest.Digest);
        Assert.Equal(image.ManifestBytes, pulled.ManifestBytes);
        Assert.Equal(image.ConfigBytes, pulled.ConfigBytes);
        Assert.Equal(image.Layers.Select(l => (l.Blob.Descriptor.Digest, l.DiffId)), pulled.Layers.Select(l => (l.Blob.Descriptor.Digest, l.DiffId)));
        for (var i = 0; i < image.Layers.Count; i++)
        {
            await using var expected = await image.Layers[i].Blob.OpenReadAsync(CancellationToken.None);
            await using var actual = await pulled.Layers[i].Blob.OpenReadAsync(CancellationToken.None);
            Assert.Equal(ReadAll(expected), ReadAll(actual));
            var cached = Assert.IsType<CachedBlob>(pulled.Layers[i].Blob);
            Assert.StartsWith(Scratch.Combine("cache", "blobs", "sha256"), cached.Path);
        }

        // Again, by digest this time: everything comes from the cache, not even the manifest is fetched.
        var before = client.Stats.Snapshot();
        var again = await new RegistryImageSource(client, reference.WithDigest(image.Manifest.Digest)).GetAsync(new Platform("linux", "amd64"), CancellationToken.None);
        var delta = client.Stats.Snapshot() - before;
        Assert.Equal(image.Manifest.Digest, again.Manifest.Digest);
        Assert.Equal(0, delta.BlobsDownloaded);
        Assert.Equal(0, delta.Requests);
        Assert.Equal(4, delta.BlobsFromCache);
    }

    [Fact]
    public async Task Second_push_of_an_unchanged_image_uploads_no_blob()
    {
        var image = TestImages.Create(seed: 3, weightBytes: 2 << 20);
        using var client = Client(Host);
        var reference = Ref(Host, "push/again:latest");
        var first = await client.PushAsync(image, [reference], null, CancellationToken.None);
        Assert.True(first.Transfer.BytesSent >= ImageBytes(image), $"first push sent {first.Transfer.BytesSent} bytes");
        Assert.Equal(4, first.Transfer.BlobsUploaded);

        var second = await client.PushAsync(image, [reference], null, CancellationToken.None);
        Assert.Equal(0, second.Transfer.BlobsUploaded);
        Assert.Equal(4, second.Transfer.BlobsSkipped);
        Assert.True(second.Transfer.BytesSent < 100 * 1024, $"second push sent {second.Transfer.BytesSent} bytes");
        Assert.True(second.Transfer.Requests <= 6, $"second push made {second.Transfer.Requests} requests"); // 4 HEAD + manifest PUT (+ ping)
    }

    [Fact]
    public async Task Pushing_to_other_repositories_mounts_blobs_instead_of_uploading()
    {
        var image = TestImages.Create(seed: 4);
        using var client = Client(Host);
        var observer = new RecordingObserver();
        var result = await client.PushAsync(image, [Ref(Host, "mount/source:1"), Ref(Host, "mount/copy:1")], observer, CancellationToken.None);
        Assert.Equal(4, result.Transfer.BlobsUploaded);
        Assert.Equal(4, result.Transfer.BlobsMounted);
        Assert.Equal(4, observer.Count("mounted "));
        Assert.Contains(observer.Events, e => e.EndsWith("from mount/source", StringComparison.Ordinal));
        AssertSameImage(image, SkopeoInspect($"{Host}/mount/copy:1"));

        // A pulled base image remembers its repository: pushing it elsewhere on the same registry mounts its layers.
        var pulled = await new RegistryImageSource(client, Ref(Host, "mount/source:1")).GetAsync(new Platform("linux", "amd64"), CancellationToken.None);
        var before = client.Stats.Snapshot();
        var derived = await client.PushAsync(pulled, [Ref(Host, "mount/derived:1")], null, CancellationToken.None);
        Assert.Equal(4, derived.Transfer.BlobsMounted);
        Assert.Equal(0, derived.Transfer.BlobsUploaded);
        Assert.True((client.Stats.Snapshot() - before).BytesSent < 10 * 1024);
        Assert.Equal(image.Manifest.Digest, SkopeoCopyToOci($"{Host}/mount/derived:1"));
    }

    [Theory]
    [InlineData(UploadMode.Chunked)]
    [InlineData(UploadMode.Monolithic)]
    [InlineData(UploadMode.Auto)]
    public async Task Chunked_and_monolithic_uploads_both_work(UploadMode mode)
    {
        var image = TestImages.Create(seed: 10 + (int)mode, weightBytes: (1 << 20) + 17);
        using var client = Client(Host, o => o with { Upload = new UploadOptions { Mode = mode, ChunkSize = 64 * 1024, MonolithicThreshold = 512 * 1024 } });
        var reference = Ref(Host, $"strategy/{mode.ToString().ToLowerInvariant()}:1");
        var result = await client.PushAsync(image, [reference], null, CancellationToken.None);
        var weightChunks = (int)Math.Ceiling(((1 << 20) + 17 + 3 * 512.0) / (64 * 1024)); // the tar is a little larger than the file
        switch (mode)
        {
            case UploadMode.Monolithic: Assert.Equal(0, result.Transfer.ChunksSent); break;
            case UploadMode.Chunked: Assert.True(result.Transfer.ChunksSent >= weightChunks + 3, $"{result.Transfer.ChunksSent} chunks"); break;
            case UploadMode.Auto: Assert.InRange(result.Transfer.ChunksSent, weightChunks - 1, weightChunks + 1); break; // only the big layer is chunked
        }
        Assert.Equal(image.Manifest.Digest, SkopeoCopyToOci(reference.ToString()));
    }

    [Fact]
    public async Task Pull_of_an_index_selects_the_platform_or_says_what_exists()
    {
        var amd = TestImages.Create(seed: 20, architecture: "amd64");
        var arm = TestImages.Create(seed: 21, architecture: "arm64");
        using var client = Client(Host);
        var repo = Ref(Host, "multi/arch:latest");
        await client.PushAsync(amd, [repo.WithDigest(amd.Manifest.Digest)], null, CancellationToken.None);
        await client.PushAsync(arm, [repo.WithDigest(arm.Manifest.Digest)], null, CancellationToken.None);
        var (index, _) = TestImages.Index(amd, arm);
        await client.PutManifestAsync(repo, MediaTypes.OciIndex, index, null, CancellationToken.None);

        var source = new RegistryImageSource(client, repo);
        var pulled = await source.GetAsync(new Platform("linux", "arm64"), CancellationToken.None);
        Assert.Equal(arm.Manifest.Digest, pulled.Manifest.Digest);
        Assert.Equal("linux/arm64", pulled.Manifest.Platform!.ToString());
        Assert.Equal((await source.GetAsync(new Platform("linux", "amd64"), CancellationToken.None)).Manifest.Digest, amd.Manifest.Digest);

        var error = await Assert.ThrowsAsync<RegistryException>(() => source.GetAsync(new Platform("linux", "s390x"), CancellationToken.None));
        Assert.Equal($"no linux/s390x image in {repo} (available: linux/amd64, linux/arm64)", error.Message);
    }

    [Fact]
    public async Task Missing_tags_and_repositories_are_not_found_errors()
    {
        using var client = Client(Host);
        await client.PushAsync(TestImages.Create(seed: 30), [Ref(Host, "exists/here:1")], null, CancellationToken.None);
        var noTag = await Assert.ThrowsAsync<RegistryNotFoundException>(() =>
            new RegistryImageSource(client, Ref(Host, "exists/here:2")).GetAsync(new Platform("linux", "amd64"), CancellationToken.None));
        Assert.Contains($"{Host}/exists/here:2 not found", noTag.Message);
        var noRepo = await Assert.ThrowsAsync<RegistryNotFoundException>(() =>
            new RegistryImageSource(client, Ref(Host, "nothing/here:1")).GetAsync(new Platform("linux", "amd64"), CancellationToken.None));
        Assert.Contains("not found", noRepo.Message);
        Assert.Contains("nothing/here", noRepo.Message);
    }

    [Fact]
    public async Task Unreachable_registry_is_named_and_fails_fast()
    {
        var closed = $"127.0.0.1:{FreeTcpPort.Pick()}";
        using var client = Client(closed);
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var error = await Assert.ThrowsAsync<RegistryException>(() =>
            client.PushAsync(TestImages.Create(seed: 31), [Ref(closed, "any/repo:1")], null, CancellationToken.None));
        Assert.StartsWith($"cannot reach registry {closed}", error.Message);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10), $"took {watch.Elapsed}");

        using var nowhere = Client("no-such-host.invalid:5000");
        var dns = await Assert.ThrowsAsync<RegistryException>(() =>
            new RegistryImageSource(nowhere, ImageReference.Parse("no-such-host.invalid:5000/x/y:1")).GetAsync(new Platform("linux", "amd64"), CancellationToken.None));
        Assert.StartsWith("cannot reach registry no-such-host.invalid:5000", dns.Message);
    }

    [Fact]
    public async Task Plain_http_registry_is_refused_unless_marked_insecure()
    {
        using var client = new RegistryClient(new RegistryOptions { Credentials = new() { Anonymous = true }, Retry = FastRetry });
        var error = await Assert.ThrowsAsync<RegistryException>(() =>
            client.PushAsync(TestImages.Create(seed: 32), [Ref(Host, "strict/repo:1")], null, CancellationToken.None));
        Assert.Contains($"cannot connect to registry {Host} over https", error.Message);
        Assert.Contains($"--insecure {Host}", error.Message);
    }

    [Theory]
    [InlineData(UploadMode.Monolithic)]
    [InlineData(UploadMode.Chunked)]
    public async Task Blob_shorter_than_its_descriptor_fails_at_once_and_leaves_no_tag(UploadMode mode)
    {
        var image = TestImages.Create(seed: 33);
        var weights = image.Layers[2].Blob;
        var truncated = new BytesBlob(weights.Descriptor, ReadAll(await weights.OpenReadAsync(CancellationToken.None))[..1000]);
        var broken = image with { Layers = [image.Layers[0], image.Layers[1], new Oci.Layer(truncated, image.Layers[2].DiffId)] };
        using var client = Client(Host, o => o with { Upload = new UploadOptions { Mode = mode, ChunkSize = 64 * 1024 } });
        var reference = Ref(Host, $"broken/short-{mode.ToString().ToLowerInvariant()}:1");
        var error = await Assert.ThrowsAsync<RegistryException>(() => client.PushAsync(broken, [reference], null, CancellationToken.None));
        Assert.Contains("shorter than its descriptor", error.Message);
        Assert.Equal(0, client.Stats.Retries);
        Assert.False(await client.ManifestExistsAsync(reference, CancellationToken.None));
    }

    private static byte[] ReadAll(Stream s)
    {
        using var m = new MemoryStream();
        s.CopyTo(m);
        return m.ToArray();
    }
}
