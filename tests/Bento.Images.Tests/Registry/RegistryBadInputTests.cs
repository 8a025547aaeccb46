using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Bento.Core;
using Bento.Images.Layout;
using Bento.Images.Oci;
using Bento.Images.Registry;
using Bento.Images.Tests.Infrastructure;

namespace Bento.Images.Tests.Registry;

/// <summary>
/// Bad input around a registry, against a real docker-registry: a base image of another platform, a full disk under
/// the pull cache, and blobs whose bytes no longer match their digest (a damaged cache entry or OCI layout blob). Each
/// is one clear error that names what is wrong and where, is not retried, and leaves nothing behind (no tag, no blob).
/// </summary>
public sealed class RegistryBadInputTests(AnonymousRegistryFixture fixture) : RegistryTestBase, IClassFixture<AnonymousRegistryFixture>
{
    private static readonly Platform Amd64 = new("linux", "amd64");

    private string Host => fixture.Server.Host;

    [Fact]
    public async Task A_single_platform_base_of_another_architecture_says_which_platform_it_has()
    {
        var arm = TestImages.Create(seed: 500, architecture: "arm64");
        using var client = Client(Host);
        var reference = Ref(Host, "platform/arm-only:1");
        await client.PushAsync(arm, [reference], null, CancellationToken.None);

        var source = new RegistryImageSource(client, reference);
        var error = await Assert.ThrowsAsync<RegistryException>(() => source.GetAsync(Amd64, CancellationToken.None));
        Assert.Equal($"no linux/amd64 image in {reference} (available: linux/arm64)", error.Message);
        // Nothing but the manifest and config was fetched: the layers of an unusable image are not downloaded.
        Assert.False(File.Exists(source.Cache.PathFor(arm.Layers[2].Blob.Descriptor.Digest)));
    }

    /// <summary>
    /// A registry host that drops connections (a firewall, a host that is down) rather than refusing them: after the
    /// connect timeout, one error naming the registry, for a pull and for a push; before, it escaped as an "internal
    /// error" (TaskCanceledException) that named nothing. Simulated with a listener whose accept queue is full, so the
    /// kernel drops further SYNs.
    /// </summary>
    [Fact]
    public async Task A_registry_that_drops_connections_is_named_after_the_connect_timeout()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(0);
        var port = ((IPEndPoint)listener.LocalEndPoint!).Port;
        var fillers = Enumerable.Range(0, 4).Select(_ => new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp)).ToList();
        try
        {
            foreach (var f in fillers) _ = f.ConnectAsync(IPAddress.Loopback, port);
            await Task.Delay(300);
            var host = $"127.0.0.1:{port}";
            using var client = Client(host, o => o with { ConnectTimeout = TimeSpan.FromSeconds(1) });
            var watch = Stopwatch.StartNew();
            var pull = await Assert.ThrowsAsync<RegistryException>(() =>
                new RegistryImageSource(client, Ref(host, "any/base:1")).GetAsync(Amd64, CancellationToken.None));
            Assert.Equal($"cannot reach registry {host}: no connection within 1 s (is the host up and the port right, or does a firewall drop the connection?)", pull.Message);
            using var pusher = Client(host, o => o with { ConnectTimeout = TimeSpan.FromSeconds(1) });
            var push = await Assert.ThrowsAsync<RegistryException>(() => pusher.PushAsync(TestImages.Create(seed: 503), [Ref(host, "any/app:1")], null, CancellationToken.None));
            Assert.StartsWith($"cannot reach registry {host}", push.Message);
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(15), $"took {watch.Elapsed}: an unreachable registry is not retried");
        }
        finally
        {
            foreach (var f in fillers) f.Dispose();
        }
    }

    /// <summary>A full disk under the pull cache: one error naming the cache and the cause, not six retries; no partial file.</summary>
    [Fact]
    public async Task A_full_disk_under_the_pull_cache_is_reported_at_once_and_leaves_no_partial_file()
    {
        var image = TestImages.Create(seed: 501, weightBytes: 3 << 20);
        using (var pusher = Client(Host))
            await pusher.PushAsync(image, [Ref(Host, "disk/full:1")], null, CancellationToken.None);

        var mountPoint = Scratch.Combine("small-disk");
        Directory.CreateDirectory(mountPoint);
        var mount = await ProcessRunner.RunAsync("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", mountPoint]);
        Assert.True(mount.ExitCode == 0, $"this test mounts a tmpfs and must run as root:\n{mount}");
        try
        {
            var cache = Path.Combine(mountPoint, "images");
            using var client = Client(Host, o => o with { CacheDirectory = cache });
            var observer = new RecordingObserver();
            var error = await Assert.ThrowsAsync<RegistryException>(() =>
                new RegistryImageSource(client, Ref(Host, "disk/full:1"), observer).GetAsync(Amd64, CancellationToken.None));
            Assert.Contains("no space left on device", error.Message);
            Assert.Contains(Path.Combine(cache, "blobs", "sha256"), error.Message);
            Assert.Contains("free some space", error.Message);
            Assert.Equal(0, client.Stats.Retries);
            Assert.Equal(0, observer.Count("retry "));
            Assert.Empty(Directory.EnumerateFiles(mountPoint, "*.part", SearchOption.AllDirectories));
            Assert.False(File.Exists(Path.Combine(cache, "blobs", "sha256", OciDigest.Hex(image.Layers[2].Blob.Descriptor.Digest))));
        }
        finally
        {
            await ProcessRunner.RunAsync("umount", [mountPoint]);
        }
    }

    /// <summary>
    /// The pull cache trusts a file of the right size; a cached layer damaged after its download is caught when it is
    /// read: writing a layout and pushing both fail naming the cache file, and neither leaves anything behind.
    /// </summary>
    [Fact]
    public async Task A_cached_layer_damaged_after_its_download_is_caught_when_used_and_named()
    {
        var image = TestImages.Create(seed: 502);
        using var client = Client(Host);
        var reference = Ref(Host, "cache/damaged:1");
        await client.PushAsync(image, [reference], null, CancellationToken.None);
        var source = new RegistryImageSource(client, reference);
        var pulled = await source.GetAsync(Amd64, CancellationToken.None);

        var weights = pulled.Layers[2].Blob.Descriptor;
        var cached = source.Cache.PathFor(weights.Digest);
        var bytes = await File.ReadAllBytesAsync(cached);
        bytes[bytes.Length / 2] ^= 0x20; // same size, other content
        await File.WriteAllBytesAsync(cached, bytes);

        // Pulled again: the cache still serves it (a size check only) ...
        var again = await new RegistryImageSource(client, reference).GetAsync(Amd64, CancellationToken.None);

        // ... but a sink that reads it notices, names the file and says what to do.
        var layout = Scratch.Combine("layout");
        var e1 = await Assert.ThrowsAsync<BentoException>(() => new OciLayoutSink(layout).WriteAsync(again, ["x"], CancellationToken.None));
        Assert.Contains("digest mismatch", e1.Message);
        Assert.Contains(cached, e1.Message);
        Assert.Contains("delete it", e1.Message);
        Assert.False(Directory.Exists(layout));

        // A push to another registry (no mount possible) stops before the registry commits the blob, without retries.
        using var other = new RegistryServer();
        using var pusher = Client(other.Host);
        var target = Ref(other.Host, "cache/copy:1");
        var e2 = await Assert.ThrowsAsync<BentoException>(() => pusher.PushAsync(again, [target], null, CancellationToken.None));
        Assert.Contains("digest mismatch", e2.Message);
        Assert.Contains(cached, e2.Message);
        Assert.Equal(0, pusher.Stats.Retries);
        Assert.False(await pusher.ManifestExistsAsync(target, CancellationToken.None));
        Assert.False(await pusher.BlobExistsAsync(target, weights, CancellationToken.None));
    }

    /// <summary>
    /// A damaged cached config or manifest (same size, still valid JSON) is never used: it is fetched again and the
    /// cache repaired, whether the base is named by tag or pinned by digest (which otherwise needs no request at all).
    /// </summary>
    [Fact]
    public async Task A_damaged_cached_config_or_manifest_is_fetched_again_and_repaired()
    {
        var image = TestImages.Create(seed: 504);
        using var client = Client(Host);
        var reference = Ref(Host, "cache/small:1");
        await client.PushAsync(image, [reference], null, CancellationToken.None);
        var source = new RegistryImageSource(client, reference);
        await source.GetAsync(Amd64, CancellationToken.None);

        static void Damage(string path)
        {
            // One hex digit of the first digest inside (a diff_id, the config's digest): same size, still valid JSON.
            var text = File.ReadAllText(path);
            var i = text.IndexOf("sha256:", StringComparison.Ordinal) + "sha256:".Length;
            Assert.True(i >= "sha256:".Length, text);
            File.WriteAllText(path, text[..i] + (text[i] == '0' ? '1' : '0') + text[(i + 1)..]);
        }
        var configPath = source.Cache.PathFor(image.Config.Digest);
        Damage(configPath);
        var byTag = await new RegistryImageSource(client, reference).GetAsync(Amd64, CancellationToken.None);
        Assert.Equal(image.ConfigBytes, byTag.ConfigBytes);
        Assert.Equal(image.ConfigBytes, await File.ReadAllBytesAsync(configPath));

        var manifestPath = source.Cache.PathFor(image.Manifest.Digest);
        Damage(manifestPath);
        Damage(configPath);
        var before = client.Stats.Snapshot();
        var byDigest = await new RegistryImageSource(client, reference.WithDigest(image.Manifest.Digest)).GetAsync(Amd64, CancellationToken.None);
        Assert.Equal(image.ManifestBytes, byDigest.ManifestBytes);
        Assert.Equal(image.ConfigBytes, byDigest.ConfigBytes);
        Assert.True((client.Stats.Snapshot() - before).Requests >= 2, "the damaged copies were fetched again");
        Assert.Equal(image.ManifestBytes, await File.ReadAllBytesAsync(manifestPath));
        Assert.Equal(image.ConfigBytes, await File.ReadAllBytesAsync(configPath));
    }

    /// <summary>
    /// A base layer in an OCI layout whose bytes changed (same size, so reading the layout does not notice) is caught
    /// while it is pushed: the error names the layout file, the request is aborted before its last byte so the registry
    /// never commits the blob, nothing is retried, and no tag is written.
    /// </summary>
    [Theory]
    [InlineData(UploadMode.Monolithic)]
    [InlineData(UploadMode.Chunked)]
    public async Task A_corrupted_layout_layer_is_refused_while_pushing_before_the_registry_commits_it(UploadMode mode)
    {
        var image = TestImages.Create(seed: 510 + (int)mode, weightBytes: 1 << 20);
        var layout = Scratch.Combine("layout");
        await new OciLayoutSink(layout).WriteAsync(image, ["base"], CancellationToken.None);
        var weights = image.Layers[2].Blob.Descriptor;
        var blobPath = Path.Combine(layout, "blobs", "sha256", OciDigest.Hex(weights.Digest));
        var bytes = await File.ReadAllBytesAsync(blobPath);
        bytes[^700] ^= 0x01; // near the end: inside the last chunk
        await File.WriteAllBytesAsync(blobPath, bytes);

        var fromLayout = await new OciLayoutSource(layout, "base").GetAsync(Amd64, CancellationToken.None);
        using var client = Client(Host, o => o with { Upload = new UploadOptions { Mode = mode, ChunkSize = 256 * 1024 } });
        var target = Ref(Host, $"layout/corrupt-{mode.ToString().ToLowerInvariant()}:1");
        var error = await Assert.ThrowsAsync<BentoException>(() => client.PushAsync(fromLayout, [target], null, CancellationToken.None));
        Assert.Contains("digest mismatch", error.Message);
        Assert.Contains(weights.Digest, error.Message);
        Assert.Contains(blobPath, error.Message);
        Assert.Equal(0, client.Stats.Retries);
        Assert.False(await client.ManifestExistsAsync(target, CancellationToken.None));
        Assert.False(await client.BlobExistsAsync(target, weights, CancellationToken.None));
    }
}
