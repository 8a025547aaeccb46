using System.Diagnostics;
using Xunit.Abstractions;
using Bento.Images.Oci;
using Bento.Images.Registry;

namespace Bento.Images.Tests.Registry;

/// <summary>
/// Pushes and pulls through a fault-injecting proxy in front of a real registry (relative Location URLs, so uploads
/// come back through the proxy): server errors, 429 with Retry-After, connections cut mid-blob, stalls and corrupted
/// downloads. Each push either completes (checked with skopeo, which verifies digests) or fails clearly without
/// leaving a tag.
/// </summary>
public sealed class RegistryFaultTests : RegistryTestBase
{
    private readonly RegistryServer _registry = new(RegistryAuth.Anonymous, relativeUrls: true);
    private readonly FaultProxy _proxy;
    private readonly ITestOutputHelper _output;

    public RegistryFaultTests(ITestOutputHelper output)
    {
        _output = output;
        _proxy = new FaultProxy(_registry.Host);
    }

    private RegistryClient ProxyClient(UploadMode mode = UploadMode.Auto, long chunk = 256 * 1024, TimeSpan? timeout = null) =>
        Client(_proxy.Host, o => o with
        {
            Upload = new UploadOptions { Mode = mode, ChunkSize = chunk },
            RequestTimeout = timeout ?? TimeSpan.FromSeconds(20),
        });

    private string Log => string.Join("\n", _proxy.Log);

    /// <summary>Pushes, adding the proxy's log to any failure (what the registry saw is the interesting part).</summary>
    private async Task<PushResult> Push(RegistryClient client, Oci.Image image, ImageReference reference, IPushObserver? observer = null)
    {
        try
        {
            var result = await client.PushAsync(image, [reference], observer, CancellationToken.None);
            _output.WriteLine($"{result.Transfer}\nproxy log:\n{Log}");
            return result;
        }
        catch (RegistryException e) { throw new Xunit.Sdk.XunitException($"{e.Message}\nproxy log:\n{Log}\nobserver:\n{observer}"); }
    }

    [Fact]
    public async Task Server_errors_are_retried_per_request()
    {
        var image = TestImages.Create(seed: 100);
        var faults = new[]
        {
            _proxy.Add(new Fault("HEAD", "/blobs/", FaultKind.ServerError, times: 2)),
            _proxy.Add(new Fault("POST", "/blobs/uploads/", FaultKind.ServerError, times: 2)),
            _proxy.Add(new Fault("PUT", "/blobs/uploads/", FaultKind.ServerError, times: 1)),
            _proxy.Add(new Fault("PUT", "/manifests/", FaultKind.ServerError, times: 1)),
        };
        using var client = ProxyClient();
        var observer = new RecordingObserver();
        var result = await Push(client, image, Ref(_proxy.Host, "faults/errors:1"), observer);
        Assert.All(faults, f => Assert.True(f.Fired > 0, Log));
        Assert.Equal(6, result.Transfer.Retries);
        Assert.Equal(6, observer.Count("retry "));
        Assert.Equal(image.Manifest.Digest, SkopeoCopyToOci($"{_registry.Host}/faults/errors:1"));
    }

    [Fact]
    public async Task Too_many_requests_waits_for_retry_after()
    {
        var image = TestImages.Create(seed: 101);
        var fault = _proxy.Add(new Fault("POST", "/blobs/uploads/", FaultKind.TooManyRequests) { RetryAfterSeconds = 2 });
        using var client = ProxyClient();
        var watch = Stopwatch.StartNew();
        await client.PushAsync(image, [Ref(_proxy.Host, "faults/throttled:1")], null, CancellationToken.None);
        Assert.Equal(1, fault.Fired);
        Assert.True(watch.Elapsed >= TimeSpan.FromSeconds(1.9), $"pushed in {watch.Elapsed}, before Retry-After ran out");
        AssertSameImage(image, SkopeoInspect($"{_registry.Host}/faults/throttled:1"));
    }

    [Fact]
    public async Task Failed_chunk_resumes_from_the_offset_the_registry_reports()
    {
        var image = TestImages.Create(seed: 102, weightBytes: 2 << 20);
        // The third PATCH never reaches the registry: the upload continues from what the registry has.
        var fault = _proxy.Add(new Fault("PATCH", "/blobs/uploads/", FaultKind.ServerError) { Skip = 2, MinBodyBytes = 200 * 1024 });
        using var client = ProxyClient(UploadMode.Chunked);
        var result = await Push(client, image, Ref(_proxy.Host, "faults/resume:1"));
        Assert.Equal(1, fault.Fired);
        Assert.Equal(1, result.Transfer.Resumes);
        Assert.Equal(0, result.Transfer.Restarts);
        Assert.True(result.Transfer.BytesSent < ImageBytes(image) + 256 * 1024 + 64 * 1024, $"{result.Transfer.BytesSent} bytes sent");
        Assert.Contains(_proxy.Log, l => l.StartsWith("GET /v2/faults/resume/blobs/uploads/", StringComparison.Ordinal) && l.EndsWith("-> 204", StringComparison.Ordinal));
        Assert.Equal(image.Manifest.Digest, SkopeoCopyToOci($"{_registry.Host}/faults/resume:1"));
    }

    [Fact]
    public async Task Connection_cut_mid_chunk_is_recovered()
    {
        var image = TestImages.Create(seed: 103, weightBytes: 2 << 20);
        // The registry receives 100 KiB of a 256 KiB chunk, then both connections drop. distribution then refuses the
        // session (its recorded offset no longer matches the data), so the client starts that blob again.
        var fault = _proxy.Add(new Fault("PATCH", "/blobs/uploads/", FaultKind.CutRequestBody) { Skip = 2, MinBodyBytes = 200 * 1024, CutAfterBytes = 100 * 1024 });
        using var client = ProxyClient(UploadMode.Chunked);
        var observer = new RecordingObserver();
        var result = await Push(client, image, Ref(_proxy.Host, "faults/cut:1"), observer);
        Assert.Equal(1, fault.Fired);
        Assert.Contains(_proxy.Log, l => l.EndsWith("-> cut", StringComparison.Ordinal));
        Assert.True(result.Transfer.Resumes + result.Transfer.Restarts >= 1, Log);
        Assert.Equal(image.Manifest.Digest, SkopeoCopyToOci($"{_registry.Host}/faults/cut:1"));
    }

    [Fact]
    public async Task Connection_cut_mid_monolithic_upload_is_recovered()
    {
        var image = TestImages.Create(seed: 104, weightBytes: 1 << 20);
        var fault = _proxy.Add(new Fault("PUT", "/blobs/uploads/", FaultKind.CutRequestBody) { MinBodyBytes = 512 * 1024, CutAfterBytes = 200 * 1024 });
        using var client = ProxyClient(UploadMode.Monolithic);
        var observer = new RecordingObserver();
        var result = await Push(client, image, Ref(_proxy.Host, "faults/cutmono:1"), observer);
        Assert.Equal(1, fault.Fired);
        Assert.True(result.Transfer.Restarts + result.Transfer.Retries >= 1, Log);
        Assert.Equal(image.Manifest.Digest, SkopeoCopyToOci($"{_registry.Host}/faults/cutmono:1"));
    }

    [Fact]
    public async Task Stalled_request_times_out_and_is_retried()
    {
        var image = TestImages.Create(seed: 105);
        var fault = _proxy.Add(new Fault("HEAD", "/blobs/", FaultKind.Stall) { Delay = TimeSpan.FromSeconds(4) });
        using var client = ProxyClient(timeout: TimeSpan.FromSeconds(1));
        var observer = new RecordingObserver();
        await client.PushAsync(image, [Ref(_proxy.Host, "faults/stall:1")], observer, CancellationToken.None);
        Assert.Equal(1, fault.Fired);
        Assert.Contains(observer.Events, e => e.StartsWith("retry ", StringComparison.Ordinal) && e.Contains("no progress for 1 s"));
        AssertSameImage(image, SkopeoInspect($"{_registry.Host}/faults/stall:1"));
    }

    [Fact]
    public async Task Persistent_failure_fails_clearly_and_leaves_no_tag()
    {
        var image = TestImages.Create(seed: 106, weightBytes: 1 << 20);
        _proxy.Add(new Fault("PATCH", "/blobs/uploads/", FaultKind.ServerError, times: 1000));
        _proxy.Add(new Fault("PUT", "/blobs/uploads/", FaultKind.ServerError, times: 1000));
        using var client = ProxyClient(UploadMode.Chunked);
        var reference = Ref(_proxy.Host, "faults/broken:1");
        var error = await Assert.ThrowsAsync<RegistryException>(() => client.PushAsync(image, [reference], null, CancellationToken.None));
        Assert.Contains("failed after 6 attempts", error.Message);
        Assert.Contains("HTTP 500", error.Message);
        Assert.Contains(_proxy.Host, error.Message);
        Assert.DoesNotContain(_proxy.Log, l => l.StartsWith("PUT /v2/faults/broken/manifests/", StringComparison.Ordinal));

        Assert.False(await client.ManifestExistsAsync(reference, CancellationToken.None));
        var skopeo = Tools.Skopeo("inspect", "--tls-verify=false", $"docker://{_registry.Host}/faults/broken:1");
        Assert.NotEqual(0, skopeo.ExitCode);
        Assert.Contains("manifest unknown", skopeo.All);
    }

    /// <summary>A registry that keeps failing cross-repository mounts: the blobs are uploaded instead, the push succeeds.</summary>
    [Fact]
    public async Task A_mount_that_keeps_failing_falls_back_to_uploading()
    {
        var image = TestImages.Create(seed: 108);
        var fault = _proxy.Add(new Fault("POST", "/blobs/uploads/", FaultKind.ServerError, times: 1000) { QueryContains = "mount=" });
        using var client = ProxyClient();
        // Two repositories in one push: the second would mount every blob from the first.
        var observer = new RecordingObserver();
        var result = await client.PushAsync(image, [Ref(_proxy.Host, "faults/mount-src:1"), Ref(_proxy.Host, "faults/mount-dst:1")], observer, CancellationToken.None);
        Assert.True(fault.Fired >= 4 * FastRetry.MaxAttempts, Log);
        Assert.Equal(0, result.Transfer.BlobsMounted);
        Assert.Equal(8, result.Transfer.BlobsUploaded);
        Assert.Contains(observer.Events, e => e.StartsWith("retry mounting blob", StringComparison.Ordinal));
        Assert.Equal(image.Manifest.Digest, SkopeoCopyToOci($"{_registry.Host}/faults/mount-dst:1"));
    }

    /// <summary>Pushes write the manifest last: every manifest PUT the registry sees comes after every blob is in place.</summary>
    [Fact]
    public async Task The_manifest_is_put_only_after_every_blob_is_confirmed()
    {
        var image = TestImages.Create(seed: 109, weightBytes: 1 << 20);
        // Slow the last blob down a little, so a manifest sent early would show up before it in the log.
        _proxy.Add(new Fault("PUT", "/blobs/uploads/", FaultKind.Stall) { Delay = TimeSpan.FromMilliseconds(500), MinBodyBytes = 512 * 1024 });
        _proxy.Add(new Fault("PUT", "/blobs/uploads/", FaultKind.ServerError, times: 2));
        using var client = ProxyClient(UploadMode.Monolithic);
        await Push(client, image, Ref(_proxy.Host, "faults/order:1"));
        var first = _proxy.Log.Count;
        await client.PushAsync(image, [Ref(_proxy.Host, "faults/order:2"), Ref(_proxy.Host, "faults/order-copy:1")], null, CancellationToken.None);
        var all = _proxy.Log.ToList();
        // Uploaded in the first push, found (HEAD) in the second; mounted into the copy in the second.
        foreach (var (log, repository) in new[] { (all[..first], "faults/order"), (all[first..], "faults/order"), (all[first..], "faults/order-copy") })
        {
            var manifests = log.Select((l, i) => (l, i)).Where(x => x.l.StartsWith($"PUT /v2/{repository}/manifests/", StringComparison.Ordinal)).Select(x => x.i).ToList();
            var blobs = log.Select((l, i) => (l, i))
                .Where(x => x.l.StartsWith($"PUT /v2/{repository}/blobs/uploads/", StringComparison.Ordinal) && x.l.EndsWith("-> 201", StringComparison.Ordinal)
                            || x.l.StartsWith($"POST /v2/{repository}/blobs/uploads/?mount", StringComparison.Ordinal) && x.l.EndsWith("-> 201", StringComparison.Ordinal)
                            || x.l.StartsWith($"HEAD /v2/{repository}/blobs/", StringComparison.Ordinal))
                .Select(x => x.i).ToList();
            Assert.NotEmpty(manifests);
            Assert.NotEmpty(blobs);
            Assert.True(manifests.Min() > blobs.Max(), $"{repository}: a manifest went out before its blobs were settled:\n{Log}");
        }
    }

    [Fact]
    public async Task Corrupted_download_is_a_digest_error_naming_the_blob()
    {
        var image = TestImages.Create(seed: 107);
        using (var direct = Client(_registry.Host))
            await direct.PushAsync(image, [Ref(_registry.Host, "faults/corrupt:1")], null, CancellationToken.None);
        var weights = image.Layers[2].Blob.Descriptor;
        _proxy.Add(new Fault("GET", "/blobs/" + weights.Digest, FaultKind.CorruptResponse, times: 1000));
        using var client = ProxyClient();
        var source = new RegistryImageSource(client, Ref(_proxy.Host, "faults/corrupt:1"));
        var error = await Assert.ThrowsAsync<DigestMismatchException>(() => source.GetAsync(new Platform("linux", "amd64"), CancellationToken.None));
        Assert.Contains(weights.Digest, error.Message);
        Assert.Contains("does not match its digest", error.Message);
        Assert.False(File.Exists(source.Cache.PathFor(weights.Digest)));
        Assert.Empty(Directory.EnumerateFiles(Path.GetDirectoryName(source.Cache.PathFor(weights.Digest))!, "*.part"));
    }

    public override void Dispose()
    {
        _proxy.Dispose();
        _registry.Dispose();
        base.Dispose();
    }
}
