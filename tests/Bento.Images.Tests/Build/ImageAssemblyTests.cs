using System.Formats.Tar;
using Bento.Core;
using Bento.Core.Store;
using Bento.Images.Build;
using Bento.Images.Layers;
using Bento.Images.Oci;
using Bento.Images.Tests.Infrastructure;

namespace Bento.Images.Tests.Build;

/// <summary>The assembled image: reproducible, layered for sharing, cached, and configured as the runtime needs.</summary>
public sealed class ImageAssemblyTests : ImageTestBase
{
    /// <summary>
    /// Two stores in different directories, the runtime copied elsewhere (other mtimes), separate layer caches, another
    /// working directory and a second later: the same manifest, byte for byte.
    /// </summary>
    [Fact]
    public async Task The_same_bento_on_the_same_base_gives_the_same_manifest_digest_anywhere_at_any_time()
    {
        var first = (await AssembleAsync(await BentoAsync())).Image.Image;

        await Task.Delay(1100);
        var otherStore = new BentoStore(Scratch.Combine("elsewhere", "store2"));
        var otherBento = await BentoAsync(project: "elsewhere/project2", store: otherStore);
        var otherRuntime = SyntheticImages.FakeRuntime(Scratch.Combine("elsewhere", "runtime2"));
        var previous = Environment.CurrentDirectory;
        Environment.CurrentDirectory = Scratch.CreateDirectory("elsewhere", "cwd");
        AssembledImage second;
        try
        {
            second = (await AssembleAsync(otherBento, new LayerCache(Scratch.Combine("elsewhere", "cache")), otherRuntime, store: otherStore)).Image;
        }
        finally
        {
            Environment.CurrentDirectory = previous;
        }

        Assert.Equal(first.Manifest.Digest, second.Image.Manifest.Digest);
        Assert.Equal(first.ManifestBytes, second.Image.ManifestBytes);
        Assert.Equal(first.ConfigBytes, second.Image.ConfigBytes);
        Assert.False(second.Layers.Any(l => l.FromCache), "the second assembly used its own, empty cache");
    }

    /// <summary>Bentos sharing a weight file share its layer (same digest), whatever else differs, in any store.</summary>
    [Fact]
    public async Task A_weight_file_gives_the_same_layer_digest_in_every_bento_that_has_it()
    {
        var alpha = (await AssembleAsync(await BentoAsync())).Image;
        var beta = (await AssembleAsync(await BentoAsync("name: beta\nruntime:\n  port: 8080\n  enforce_eager: {value: true, overridable: false}\n", "beta"))).Image;
        var otherStore = new BentoStore(Scratch.Combine("store-gamma"));
        var gamma = (await AssembleAsync(await BentoAsync("name: gamma\n", "gamma", otherStore), store: otherStore)).Image;

        static BuiltLayer Weight(AssembledImage i) => i.Layers.Single(l => l.Description.StartsWith("weights", StringComparison.Ordinal));
        Assert.Equal(Weight(alpha).Layer.Blob.Descriptor, Weight(beta).Layer.Blob.Descriptor);
        Assert.Equal(Weight(alpha).Layer.Blob.Descriptor, Weight(gamma).Layer.Blob.Descriptor);
        Assert.True(Weight(beta).FromCache, "beta's weight layer should come from the cache alpha filled (same store)");
        Assert.NotEqual(alpha.Layers[^1].Layer.Blob.Descriptor.Digest, beta.Layers[^1].Layer.Blob.Descriptor.Digest);
        Assert.NotEqual(alpha.Image.Manifest.Digest, beta.Image.Manifest.Digest);
    }

    [Fact]
    public async Task A_second_assembly_hashes_no_weight_and_a_bento_change_recomputes_only_the_bento_layer()
    {
        var bento = await BentoAsync();
        var (first, firstBuilder) = await AssembleAsync(bento);
        Assert.Equal(5, firstBuilder.Stats.ComputedLayers);

        var (second, secondBuilder) = await AssembleAsync(bento);
        Assert.Equal((0, 5, 0L), (secondBuilder.Stats.ComputedLayers, secondBuilder.Stats.CachedLayers, secondBuilder.Stats.BytesHashed));
        Assert.Equal(first.Image.Manifest.Digest, second.Image.Manifest.Digest);

        var changed = await BentoAsync(DefaultBentofile.Replace("a test bento", "a changed bento"), "project-changed");
        var (third, thirdBuilder) = await AssembleAsync(changed);
        Assert.Equal(1, thirdBuilder.Stats.ComputedLayers);
        Assert.StartsWith("bento ", third.Layers.Single(l => !l.FromCache).Description);
    }

    [Fact]
    public async Task Layers_go_from_least_to_most_often_changed_and_each_weight_is_an_uncompressed_layer_of_its_own()
    {
        var bento = await BentoAsync();
        var image = (await AssembleAsync(bento)).Image;
        Assert.Equal(["runtime natives (LibTorch)", "runtime .NET (self-contained)", "runtime app (bento-runtime)", "weights model.safetensors", $"bento {bento.Tag}"],
            image.Layers.Select(l => l.Description));
        var manifest = Manifest(image.Image);
        Assert.Equal(1 + 5, manifest.Layers.Count);
        Assert.Equal([MediaTypes.OciLayerGzip, MediaTypes.OciLayerGzip, MediaTypes.OciLayerGzip, MediaTypes.OciLayerGzip, MediaTypes.OciLayer, MediaTypes.OciLayerGzip],
            manifest.Layers.Select(l => l.MediaType));

        var names = await LayerNamesAsync(image.Layers[3].Layer);
        Assert.Equal(["bento/", "bento/model/", "bento/model/model.safetensors"], names);
        var bentoNames = await LayerNamesAsync(image.Layers[4].Layer, gzip: true);
        Assert.Contains("bento/bento.yaml", bentoNames);
        Assert.Contains("bento/model/tokenizer.json", bentoNames);
        Assert.DoesNotContain("bento/model/model.safetensors", bentoNames); // only in its own layer
        Assert.Contains("opt/bento-runtime/libtorch_cpu.so", await LayerNamesAsync(image.Layers[0].Layer, gzip: true));
        Assert.Contains("opt/bento-runtime/libcoreclr.so", await LayerNamesAsync(image.Layers[1].Layer, gzip: true));
        Assert.Contains("opt/bento-runtime/bento-runtime", await LayerNamesAsync(image.Layers[2].Layer, gzip: true));
    }

    private static async Task<List<string>> LayerNamesAsync(Layer layer, bool gzip = false)
    {
        await using var blob = await layer.Blob.OpenReadAsync(default);
        Stream tar = gzip ? new System.IO.Compression.GZipStream(blob, System.IO.Compression.CompressionMode.Decompress) : blob;
        using var reader = new TarReader(tar);
        var names = new List<string>();
        while (await reader.GetNextEntryAsync() is { } e) names.Add(e.Name);
        return names;
    }

    [Fact]
    public async Task The_config_runs_the_runtime_as_non_root_on_the_bento_and_leaves_enforce_eager_to_the_deployment()
    {
        var bento = await BentoAsync(DefaultBentofile.Replace("port: 3000", "port: 8123"));
        var image = (await AssembleAsync(bento)).Image.Image;
        var config = Config(image);
        var c = config.Config!;

        Assert.Equal("10001:10001", c.User);
        Assert.Equal(["8123/tcp"], c.ExposedPorts!.Keys);
        Assert.Equal(["/opt/bento-runtime/bento-runtime"], c.Entrypoint);
        Assert.Null(c.Cmd);
        Assert.Equal("/bento", c.WorkingDir);
        Assert.Equal("SIGTERM", c.StopSignal);
        Assert.Equal(["PATH=/usr/local/bin:/usr/bin:/bin", "BASE_ONLY=yes", "HF_HUB_OFFLINE=1", "BENTO_PATH=/bento", "BENTO_HOST=0.0.0.0", "BENTO_PORT=8123"], c.Env);
        Assert.DoesNotContain(c.Env!, e => e.StartsWith("BENTO_ENFORCE_EAGER", StringComparison.Ordinal));
        Assert.Equal(["CMD", "/opt/bento-runtime/bento-runtime", "--healthcheck"], c.Healthcheck!.Test);

        var labels = c.Labels!;
        Assert.Equal("false", labels["ai.bentobuilder.enforce_eager"]);
        Assert.Equal("true", labels["ai.bentobuilder.enforce_eager.overridable"]);
        Assert.Equal("BENTO_ENFORCE_EAGER", labels["ai.bentobuilder.enforce_eager.env"]);
        Assert.Equal(bento.Tag, labels["ai.bentobuilder.bento"]);
        Assert.Equal("kept", labels["base.label"]);
        Assert.Equal("alpha", labels[OciAnnotations.Title]); // the base's title does not describe us
        Assert.Equal(bento.Manifest.Version, labels[OciAnnotations.Version]);

        Assert.Equal("2026-01-02T03:04:05Z", config.Created);
        Assert.Equal(("linux", "amd64"), (config.Os, config.Architecture));
        Assert.Equal(6, config.RootFs.DiffIds.Count);
        Assert.Equal(6, config.History!.Count(h => h.EmptyLayer != true));
        Assert.True(config.History![^1].EmptyLayer);

        var annotations = Manifest(image).Annotations!;
        Assert.Equal("2026-01-02T03:04:05Z", annotations[OciAnnotations.Created]);
        Assert.Equal(bento.Manifest.Version, annotations[OciAnnotations.Version]);
        Assert.Equal("a test bento", annotations[OciAnnotations.Description]);
        Assert.Equal((await BaseAsync(BaseLayout)).Manifest.Digest, annotations[OciAnnotations.BaseDigest]);
        Assert.False(annotations.ContainsKey(OciAnnotations.Revision));
        Assert.False(annotations.ContainsKey(OciAnnotations.BaseName));
        Assert.False(annotations.ContainsKey(OciAnnotations.RefName)); // a tag belongs in index.json, not in the image's identity
    }

    [Fact]
    public async Task A_locked_bento_says_so_in_its_labels_and_source_and_base_name_become_annotations()
    {
        var bento = await BentoAsync("name: locked\nruntime:\n  enforce_eager: {value: true, overridable: false, env: MY_EAGER}\n");
        var image = (await AssembleAsync(bento, options: new ImageOptions { Source = "https://example.com/repo", Revision = "abc123", BaseName = "registry.example/base:1" })).Image.Image;
        var labels = Config(image).Config!.Labels!;
        Assert.Equal(("true", "false", "MY_EAGER"), (labels["ai.bentobuilder.enforce_eager"], labels["ai.bentobuilder.enforce_eager.overridable"], labels["ai.bentobuilder.enforce_eager.env"]));
        Assert.DoesNotContain(Config(image).Config!.Env!, e => e.StartsWith("MY_EAGER=", StringComparison.Ordinal) || e.StartsWith("BENTO_ENFORCE_EAGER=", StringComparison.Ordinal));
        var annotations = Manifest(image).Annotations!;
        Assert.Equal(("https://example.com/repo", "abc123", "registry.example/base:1"), (annotations[OciAnnotations.Source], annotations[OciAnnotations.Revision], annotations[OciAnnotations.BaseName]));
    }

    [Fact]
    public async Task A_base_without_a_shell_gets_the_runtimes_own_healthcheck()
    {
        var noBash = await SyntheticImages.BaseLayoutAsync(Scratch.Combine("base-nobash"), withBash: false);
        var image = (await AssembleAsync(await BentoAsync(), baseLayout: noBash)).Image.Image;
        Assert.Equal(["CMD", "/opt/bento-runtime/bento-runtime", "--healthcheck"], Config(image).Config!.Healthcheck!.Test);
    }

    [Fact]
    public async Task A_base_image_for_another_platform_is_refused()
    {
        var arm = await SyntheticImages.BaseLayoutAsync(Scratch.Combine("base-arm"), architecture: "arm64");
        var e = await Assert.ThrowsAsync<BentoException>(() => BaseAsync(arm));
        Assert.Contains("linux/arm64, not linux/amd64", e.Message);
    }

    [Fact]
    public async Task The_created_time_is_the_bentos_unless_given_and_only_whole_seconds()
    {
        var bento = await BentoAsync();
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(Bentos.Created.ToUnixTimeSeconds()), ImageAssembler.ResolveCreated(bento.Manifest));
        var given = DateTimeOffset.FromUnixTimeMilliseconds(1_234_567_890_123);
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(1_234_567_890), ImageAssembler.ResolveCreated(bento.Manifest, given));
        var image = (await AssembleAsync(bento, options: new ImageOptions { Created = given })).Image.Image;
        Assert.Equal("2009-02-13T23:31:30Z", Config(image).Created);
    }

    /// <summary>A weight edited in place in the store (the hard-link hazard the README warns about) never reaches an image.</summary>
    [Fact]
    public async Task A_weight_changed_after_its_digest_was_computed_is_detected_when_the_layer_is_streamed()
    {
        var bento = await BentoAsync();
        var image = (await AssembleAsync(bento)).Image;
        var weightPath = bento.FilePath("model/model.safetensors");
        var bytes = await File.ReadAllBytesAsync(weightPath);
        bytes[^1] ^= 0xff;
        // Break the hard link first so the repository's example is not touched, then write the changed content.
        File.Delete(weightPath);
        await File.WriteAllBytesAsync(weightPath, bytes);

        var weightLayer = image.Layers.Single(l => l.Description.StartsWith("weights", StringComparison.Ordinal)).Layer;
        var e = await Assert.ThrowsAsync<BentoException>(async () =>
        {
            await using var s = await weightLayer.Blob.OpenReadAsync(default);
            await s.CopyToAsync(Stream.Null);
        });
        Assert.Contains("digest mismatch", e.Message);
    }

    [Fact]
    public async Task An_unchanged_weight_streams_exactly_the_bytes_of_its_digest()
    {
        var image = (await AssembleAsync(await BentoAsync())).Image;
        var weightLayer = image.Layers.Single(l => l.Description.StartsWith("weights", StringComparison.Ordinal)).Layer;
        await using var s = await weightLayer.Blob.OpenReadAsync(default);
        var ms = new MemoryStream();
        await s.CopyToAsync(ms);
        Assert.Equal(weightLayer.Blob.Descriptor.Digest, OciDigest.Of(ms.ToArray()));
        Assert.Equal(weightLayer.DiffId, weightLayer.Blob.Descriptor.Digest);
    }
}
