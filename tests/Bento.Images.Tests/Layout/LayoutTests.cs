using System.Text.Json.Nodes;
using Bento.Core;
using Bento.Images.Build;
using Bento.Images.Layout;
using Bento.Images.Oci;
using Bento.Images.Tests.Infrastructure;

namespace Bento.Images.Tests.Layout;

/// <summary>The OCI layout and docker-archive outputs, checked with independent readers (skopeo, umoci, GNU tar).</summary>
public sealed class LayoutTests : ImageTestBase
{
    private async Task<Image> ImageAsync() => (await AssembleAsync(await BentoAsync())).Image.Image;

    [Fact]
    public async Task The_layout_has_oci_layout_an_index_with_the_ref_name_and_every_blob_under_its_digest()
    {
        var image = await ImageAsync();
        var dir = Scratch.Combine("out");
        await new OciLayoutSink(dir).WriteAsync(image, ["v1"], default);

        Assert.Equal("{\"imageLayoutVersion\":\"1.0.0\"}", await File.ReadAllTextAsync(Path.Combine(dir, "oci-layout")));
        var index = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(dir, "index.json")))!;
        Assert.Equal(2, (int)index["schemaVersion"]!);
        var entry = Assert.Single(index["manifests"]!.AsArray())!;
        Assert.Equal(image.Manifest.Digest, (string)entry["digest"]!);
        Assert.Equal("v1", (string)entry["annotations"]![OciAnnotations.RefName]!);
        var expected = image.Layers.Select(l => l.Blob.Descriptor.Digest).Append(image.Config.Digest).Append(image.Manifest.Digest).Distinct().Order().ToList();
        var blobs = Directory.GetFiles(Path.Combine(dir, "blobs", "sha256")).Select(f => "sha256:" + Path.GetFileName(f)).Order().ToList();
        Assert.Equal(expected, blobs);
        foreach (var blob in blobs) Assert.Equal(blob, OciDigest.Of(await File.ReadAllBytesAsync(Path.Combine(dir, "blobs", "sha256", OciDigest.Hex(blob)))));
        Assert.Equal(["blobs", "index.json", "oci-layout"], Directory.EnumerateFileSystemEntries(dir).Select(Path.GetFileName).Order());
    }

    [Fact]
    public async Task Writing_another_ref_keeps_the_first_and_writing_the_same_ref_replaces_it()
    {
        var dir = Scratch.Combine("out");
        var one = await ImageAsync();
        await new OciLayoutSink(dir).WriteAsync(one, ["one"], default);
        var two = (await AssembleAsync(await BentoAsync("name: two\n", "two"))).Image.Image;
        await new OciLayoutSink(dir).WriteAsync(two, ["two"], default);
        await new OciLayoutSink(dir).WriteAsync(two, ["one"], default);

        var index = OciJson.Parse<IndexDocument>(await File.ReadAllBytesAsync(Path.Combine(dir, "index.json")), "index");
        Assert.Equal([("one", two.Manifest.Digest), ("two", two.Manifest.Digest)],
            index.Manifests.Select(m => (m.Annotations![OciAnnotations.RefName], m.Digest)).Order());
        // The source reads what the sink wrote.
        var read = await new OciLayoutSource(dir, "two").GetAsync(ImageAssembler.DefaultPlatform, default);
        Assert.Equal(two.ManifestBytes, read.ManifestBytes);
        Assert.Equal(two.ConfigBytes, read.ConfigBytes);
    }

    [Fact]
    public async Task Skopeo_and_umoci_accept_the_layout_and_the_unpacked_root_holds_the_runtime_and_the_bento()
    {
        var skopeo = HostTools.Require("skopeo", "skopeo");
        var umoci = HostTools.Require("umoci", "umoci");
        var image = await ImageAsync();
        var dir = Scratch.Combine("out");
        await new OciLayoutSink(dir).WriteAsync(image, ["latest"], default);

        var inspect = await HostTools.CheckedAsync(skopeo, "inspect", $"oci:{dir}:latest");
        var json = JsonNode.Parse(inspect.Stdout)!;
        Assert.Equal(image.Manifest.Digest, (string)json["Digest"]!);
        Assert.Equal(6, json["Layers"]!.AsArray().Count);
        var config = JsonNode.Parse((await HostTools.CheckedAsync(skopeo, "inspect", "--config", $"oci:{dir}:latest")).Stdout)!;
        Assert.Equal("10001:10001", (string)config["config"]!["User"]!);

        var bundle = Scratch.Combine("bundle");
        await HostTools.CheckedAsync(umoci, "unpack", "--image", $"{dir}:latest", bundle);
        var rootfs = Path.Combine(bundle, "rootfs");
        Assert.True(File.Exists(Path.Combine(rootfs, "bento", "bento.yaml")));
        Assert.True(File.Exists(Path.Combine(rootfs, "etc", "os-release")), "the base layer is there");
        var runtime = new FileInfo(Path.Combine(rootfs, "opt", "bento-runtime", "bento-runtime"));
        Assert.True(runtime.Exists);
        Assert.Equal((UnixFileMode)0b111_101_101, runtime.UnixFileMode);
        var weight = new FileInfo(Path.Combine(rootfs, "bento", "model", "model.safetensors"));
        Assert.Null(weight.LinkTarget);
        Assert.Equal((UnixFileMode)0b110_100_100, weight.UnixFileMode);
        Assert.Equal(await File.ReadAllBytesAsync(Path.Combine(Repo.ExampleDirectory, "model.safetensors")), await File.ReadAllBytesAsync(weight.FullName));
    }

    [Fact]
    public async Task Skopeo_accepts_the_docker_archive_which_also_is_an_oci_layout()
    {
        var skopeo = HostTools.Require("skopeo", "skopeo");
        var image = await ImageAsync();
        var file = Scratch.Combine("image.tar");
        await new DockerArchiveSink(file).WriteAsync(image, ["alpha:test"], default);

        var inspect = JsonNode.Parse((await HostTools.CheckedAsync(skopeo, "inspect", $"docker-archive:{file}")).Stdout)!;
        Assert.Equal(6, inspect["Layers"]!.AsArray().Count);
        Assert.Equal("10001:10001", (string)JsonNode.Parse((await HostTools.CheckedAsync(skopeo, "inspect", "--config", $"docker-archive:{file}")).Stdout)!["config"]!["User"]!);

        var listing = (await HostTools.CheckedAsync("tar", "-tf", file)).Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(["oci-layout", "index.json", "manifest.json", "blobs/", "blobs/sha256/"], listing.Take(5));
        var extracted = Scratch.CreateDirectory("extracted");
        await HostTools.CheckedAsync("tar", "-xf", file, "-C", extracted);
        var manifest = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(extracted, "manifest.json")))!.AsArray().Single()!;
        Assert.Equal($"blobs/sha256/{OciDigest.Hex(image.Config.Digest)}", (string)manifest["Config"]!);
        Assert.Equal(["alpha:test"], manifest["RepoTags"]!.AsArray().Select(t => (string)t!));
        // ... and the same tarball, unpacked, is an OCI layout skopeo reads as well.
        Assert.Equal(image.Manifest.Digest, (string)JsonNode.Parse((await HostTools.CheckedAsync(skopeo, "inspect", $"oci:{extracted}")).Stdout)!["Digest"]!);
    }

    [Fact]
    public async Task A_docker_archive_is_reproducible_too()
    {
        var image = await ImageAsync();
        await new DockerArchiveSink(Scratch.Combine("a.tar")).WriteAsync(image, ["alpha:1"], default);
        await Task.Delay(1100);
        await new DockerArchiveSink(Scratch.Combine("b.tar")).WriteAsync(image, ["alpha:1"], default);
        Assert.Equal(await File.ReadAllBytesAsync(Scratch.Combine("a.tar")), await File.ReadAllBytesAsync(Scratch.Combine("b.tar")));
    }

    /// <summary>A layout skopeo wrote (a copy of ours) reads back as the same image.</summary>
    [Fact]
    public async Task The_source_reads_a_layout_written_by_skopeo()
    {
        var skopeo = HostTools.Require("skopeo", "skopeo");
        var image = await ImageAsync();
        var ours = Scratch.Combine("ours");
        await new OciLayoutSink(ours).WriteAsync(image, ["t"], default);
        var theirs = Scratch.Combine("theirs");
        await HostTools.CheckedAsync(skopeo, "copy", "--preserve-digests", $"oci:{ours}:t", $"oci:{theirs}:copied");
        var read = await new OciLayoutSource(theirs, "copied").GetAsync(ImageAssembler.DefaultPlatform, default);
        Assert.Equal(image.Manifest.Digest, read.Manifest.Digest);
    }

    [Fact]
    public async Task A_corrupted_base_layer_is_detected_and_the_output_layout_is_left_without_it()
    {
        var corrupted = Scratch.Combine("corrupted-base");
        CopyDirectory(BaseLayout, corrupted);
        var baseImage = await BaseAsync(corrupted);
        var layerPath = Path.Combine(corrupted, "blobs", "sha256", OciDigest.Hex(baseImage.Layers[0].Blob.Descriptor.Digest));
        var bytes = await File.ReadAllBytesAsync(layerPath);
        bytes[bytes.Length / 2] ^= 0x55; // same size, other content
        await File.WriteAllBytesAsync(layerPath, bytes);

        // Reading the layout checks sizes only (hashing every base layer on every build would cost seconds); the
        // digest is checked whenever the bytes are read. Every sink reads them, and notices.
        var bento = await BentoAsync();
        var image = (await AssembleAsync(bento, baseLayout: corrupted)).Image.Image;
        Assert.Equal(baseImage.Layers[0].Blob.Descriptor.Digest, image.Layers[0].Blob.Descriptor.Digest);

        // An OCI layout gets neither the blob nor an index; an existing layout keeps what it had.
        var dir = Scratch.Combine("out");
        var e = await Assert.ThrowsAsync<BentoException>(() => new OciLayoutSink(dir).WriteAsync(image, ["x"], default));
        Assert.Contains("digest mismatch", e.Message);
        Assert.Contains(layerPath, e.Message);
        Assert.False(Directory.Exists(dir), "the layout directory this write created should be gone again");
        var existing = Scratch.Combine("existing");
        await new OciLayoutSink(existing).WriteAsync(Registry.TestImages.Create(seed: 7), ["old"], default); // shares no blob with it
        var before = Directory.EnumerateFiles(existing, "*", SearchOption.AllDirectories).Order().ToList();
        await Assert.ThrowsAsync<BentoException>(() => new OciLayoutSink(existing).WriteAsync(image, ["new"], default));
        Assert.Equal(before, Directory.EnumerateFiles(existing, "*", SearchOption.AllDirectories).Order().ToList());

        // A docker-archive is not written at all (not even a partial temp file next to it).
        var archive = Scratch.Combine("archives", "image.tar");
        Directory.CreateDirectory(Path.GetDirectoryName(archive)!);
        var e2 = await Assert.ThrowsAsync<BentoException>(() => new DockerArchiveSink(archive).WriteAsync(image, ["alpha:1"], default));
        Assert.Contains("digest mismatch", e2.Message);
        Assert.Contains(layerPath, e2.Message);
        Assert.Empty(Directory.EnumerateFileSystemEntries(Path.GetDirectoryName(archive)!));
    }

    /// <summary>A layout whose image is an index without the wanted platform: the error lists the platforms it has.</summary>
    [Fact]
    public async Task A_layout_index_without_the_platform_lists_the_platforms_it_has()
    {
        var arm = await SyntheticImages.BaseLayoutAsync(Scratch.Combine("arm"), architecture: "arm64");
        var armImage = await new OciLayoutSource(arm, "base").GetAsync(new Platform("linux", "arm64"), default);
        // Replace the layout's entry by an index that lists the arm64 manifest (as multi-platform layouts do).
        var index = new IndexDocument
        {
            MediaType = MediaTypes.OciIndex,
            Manifests = [DescriptorDocument.From(armImage.Manifest with { Platform = new Platform("linux", "arm64", "v8") })],
        };
        var indexBytes = OciJson.Serialize(index);
        var indexDigest = OciDigest.Of(indexBytes);
        await File.WriteAllBytesAsync(Path.Combine(arm, "blobs", "sha256", OciDigest.Hex(indexDigest)), indexBytes);
        var top = new IndexDocument
        {
            MediaType = MediaTypes.OciIndex,
            Manifests = [DescriptorDocument.From(new Descriptor(MediaTypes.OciIndex, indexDigest, indexBytes.Length)
            {
                Annotations = new Dictionary<string, string> { [OciAnnotations.RefName] = "multi" },
            })],
        };
        await File.WriteAllBytesAsync(Path.Combine(arm, "index.json"), OciJson.Serialize(top));

        var e = await Assert.ThrowsAsync<BentoException>(() => new OciLayoutSource(arm, "multi").GetAsync(ImageAssembler.DefaultPlatform, default));
        Assert.Contains($"oci:{arm}:multi", e.Message);
        Assert.Contains("no image for linux/amd64", e.Message);
        Assert.Contains("linux/arm64/v8", e.Message);
        // The platform it has is found through the index.
        Assert.Equal(armImage.Manifest.Digest, (await new OciLayoutSource(arm, "multi").GetAsync(new Platform("linux", "arm64"), default)).Manifest.Digest);
    }

    [Fact]
    public async Task Corrupted_or_missing_manifests_and_configs_and_unknown_refs_are_errors_naming_the_problem()
    {
        var broken = Scratch.Combine("broken");
        CopyDirectory(BaseLayout, broken);
        var baseImage = await BaseAsync(broken);
        var configPath = Path.Combine(broken, "blobs", "sha256", OciDigest.Hex(baseImage.Config.Digest));
        await File.AppendAllTextAsync(configPath, " ");
        Assert.Contains("digest mismatch", (await Assert.ThrowsAsync<BentoException>(() => BaseAsync(broken))).Message);

        File.Delete(configPath);
        Assert.Contains("missing", (await Assert.ThrowsAsync<BentoException>(() => BaseAsync(broken))).Message);

        var e = await Assert.ThrowsAsync<BentoException>(() => BaseAsync(BaseLayout, "nope"));
        Assert.Contains("no image named 'nope'", e.Message);
        Assert.Contains("base", e.Message);

        Assert.Contains("not an OCI image layout", (await Assert.ThrowsAsync<BentoException>(() => BaseAsync(Scratch.CreateDirectory("empty")))).Message);

        var truncated = Scratch.Combine("truncated");
        CopyDirectory(BaseLayout, truncated);
        var layer = Path.Combine(truncated, "blobs", "sha256", OciDigest.Hex(baseImage.Layers[0].Blob.Descriptor.Digest));
        await using (var f = new FileStream(layer, FileMode.Open)) f.SetLength(f.Length - 1);
        Assert.Contains("digest mismatch", (await Assert.ThrowsAsync<BentoException>(() => BaseAsync(truncated))).Message);
    }

    /// <summary>A full disk while writing the layout: one clear error, and nothing this write added stays behind.</summary>
    [Fact]
    public async Task A_full_disk_while_writing_the_layout_is_reported_and_cleaned_up()
    {
        var image = await ImageAsync();
        var mountPoint = Scratch.CreateDirectory("small-disk");
        var mount = await ProcessRunner.RunAsync("mount", ["-t", "tmpfs", "-o", "size=2m", "tmpfs", mountPoint]);
        Assert.True(mount.ExitCode == 0, $"this test mounts a tmpfs and must run as root:\n{mount}");
        try
        {
            var dir = Path.Combine(mountPoint, "layout");
            var e = await Assert.ThrowsAsync<BentoException>(() => new OciLayoutSink(dir).WriteAsync(image, ["full"], default));
            Assert.Contains("no space left on device", e.Message);
            Assert.Contains(dir, e.Message);
            Assert.False(Directory.Exists(dir), "the layout directory this write created should be gone again");

            // An existing layout keeps what it had: its index and blobs are untouched by the failed write.
            var existing = Path.Combine(mountPoint, "existing");
            var small = await BaseAsync(BaseLayout);
            await new OciLayoutSink(existing).WriteAsync(small, ["small"], default);
            var before = Directory.EnumerateFiles(existing, "*", SearchOption.AllDirectories).Order().Select(f => (f, File.ReadAllBytes(f).Length)).ToList();
            var e3 = await Assert.ThrowsAsync<BentoException>(() => new OciLayoutSink(existing).WriteAsync(image, ["big"], default));
            Assert.Contains("no space left on device", e3.Message);
            Assert.Equal(before, Directory.EnumerateFiles(existing, "*", SearchOption.AllDirectories).Order().Select(f => (f, File.ReadAllBytes(f).Length)).ToList());
            Assert.Equal(["blobs", "index.json", "oci-layout"], Directory.EnumerateFileSystemEntries(existing).Select(Path.GetFileName).Order());
            Directory.Delete(existing, recursive: true);

            var archive = Path.Combine(mountPoint, "image.tar");
            var e2 = await Assert.ThrowsAsync<BentoException>(() => new DockerArchiveSink(archive).WriteAsync(image, [], default));
            Assert.Contains("no space left on device", e2.Message);
            Assert.Empty(Directory.EnumerateFiles(mountPoint));
        }
        finally
        {
            await ProcessRunner.RunAsync("umount", [mountPoint]);
        }
    }

    [Fact]
    public async Task A_destination_that_is_not_a_layout_is_not_overwritten()
    {
        var image = await ImageAsync();
        var dir = Scratch.CreateDirectory("precious");
        await File.WriteAllTextAsync(Path.Combine(dir, "notes.txt"), "mine");
        var e = await Assert.ThrowsAsync<BentoException>(() => new OciLayoutSink(dir).WriteAsync(image, ["x"], default));
        Assert.Contains("is not an OCI layout", e.Message);
        Assert.Equal(["notes.txt"], Directory.EnumerateFileSystemEntries(dir).Select(Path.GetFileName));
    }

    internal static void CopyDirectory(string from, string to)
    {
        foreach (var dir in Directory.EnumerateDirectories(from, "*", SearchOption.AllDirectories))
            Directory.CreateDirectory(Path.Combine(to, Path.GetRelativePath(from, dir)));
        Directory.CreateDirectory(to);
        foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
            File.Copy(file, Path.Combine(to, Path.GetRelativePath(from, file)));
    }
}
