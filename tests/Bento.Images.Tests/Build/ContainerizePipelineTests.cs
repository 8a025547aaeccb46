using Bento.Core;
using Bento.Core.Serving;
using Bento.Core.Store;
using Bento.Images.Build;
using Bento.Images.Oci;
using Bento.Images.Registry;
using Bento.Images.Tests.Infrastructure;
using Bento.Images.Tests.Registry;

namespace Bento.Images.Tests.Build;

/// <summary>
/// containerize as a library call: what every sink produced comes back from the one call (no process, no parsing of
/// stderr), pushes are pinned by digest and recorded in the store, and the image's labels say which device it runs on.
/// </summary>
public sealed class ContainerizePipelineTests : ImageTestBase
{
    private ContainerizeRequest Request(params string[] outputs) =>
        ContainerizeRequest.Parse(outputs, [], load: false, push: false, $"oci:{BaseLayout}:base", "linux/amd64", Runtime, null, insecure: false, null, null);

    [Fact]
    public async Task Every_local_sink_returns_where_it_wrote_the_image_under_which_names()
    {
        var bento = await BentoAsync();
        var layout = Scratch.Combine("out", "layout");
        var archive = Scratch.Combine("out-archive.tar");
        var lines = new List<string>();

        var result = await new ContainerizePipeline(Store, new LineProgress(lines.Add))
            .RunAsync(bento, Request($"oci:{layout}:v7", $"docker-archive:{archive}"), default);

        Assert.Equal(2, result.Publications.Count);
        var oci = result.Publications[0];
        Assert.Equal((Publication.OciLayout, Path.GetFullPath(layout), result.Digest), (oci.Sink, oci.Location, oci.Digest));
        Assert.Equal(["v7"], oci.Names);
        var tar = result.Publications[1];
        Assert.Equal((Publication.DockerArchive, archive, result.Digest), (tar.Sink, tar.Location, tar.Digest));
        Assert.Equal([$"alpha:{bento.Manifest.Version}"], tar.Names);
        Assert.Empty(oci.References);
        Assert.True(File.Exists(archive));
        var fromLayout = await new Bento.Images.Layout.OciLayoutSource(layout, "v7").GetAsync(ImageAssembler.DefaultPlatform, default);
        Assert.Equal(result.Digest, fromLayout.Manifest.Digest);
        Assert.Contains(lines, l => l.StartsWith($"image {bento.Tag}: {result.Digest}", StringComparison.Ordinal));
        Assert.Empty(new PublishedImages(Store).Read(bento.Manifest)); // nothing was pushed
    }

    [Fact]
    public async Task The_image_labels_its_accelerator_from_the_runtimes_libtorch()
    {
        var bento = await BentoAsync();
        var cpu = await new ContainerizePipeline(Store, new LineProgress()).RunAsync(bento, Request($"oci:{Scratch.Combine("cpu")}"), default);
        Assert.Equal(ImageContract.CpuAccelerator, cpu.Assembled.Config.Config!.Labels![ImageContract.Labels.Accelerator]);

        File.WriteAllBytes(Path.Combine(Runtime, "libtorch_cuda.so"), [1, 2, 3]);
        var cuda = await new ContainerizePipeline(Store, new LineProgress()).RunAsync(bento, Request($"oci:{Scratch.Combine("cuda")}"), default);
        Assert.Equal(ImageContract.CudaAccelerator, cuda.Assembled.Config.Config!.Labels![ImageContract.Labels.Accelerator]);
        Assert.NotEqual(cpu.Digest, cuda.Digest);
    }

    [Fact]
    public async Task A_push_returns_the_reference_pinned_by_digest_and_the_store_records_it_as_the_latest()
    {
        using var registry = new RegistryServer();
        var bento = await BentoAsync();
        ContainerizeRequest Push(params string[] tags) => ContainerizeRequest.Parse([], tags, load: false, push: true, $"oci:{BaseLayout}:base",
            "linux/amd64", Runtime, null, insecure: true, null, null);

        var first = await new ContainerizePipeline(Store, new LineProgress()).RunAsync(bento, Push($"{registry.Host}/team/alpha:v1", $"{registry.Host}/team/alpha:prod"), default);
        var pushed = Assert.Single(first.Publications);
        Assert.Equal(Publication.Registry, pushed.Sink);
        Assert.Equal([$"{registry.Host}/team/alpha@{first.Digest}"], pushed.References);
        Assert.Equal(first.Digest, pushed.Push!.Digest);

        // Registry's own answer: the pinned reference resolves to the same manifest.
        using var client = new RegistryClient(new RegistryOptions { Insecure = [registry.Host] });
        var fetched = await new RegistryImageSource(client, ImageReference.Parse(pushed.References[0])).GetAsync(ImageAssembler.DefaultPlatform, default);
        Assert.Equal(first.Digest, fetched.Manifest.Digest);

        var records = new PublishedImages(Store);
        var recorded = Assert.Single(records.Read(bento.Manifest));
        Assert.Equal(pushed.References[0], recorded.Reference);
        Assert.Equal([$"{registry.Host}/team/alpha:v1", $"{registry.Host}/team/alpha:prod"], recorded.Tags);
        Assert.Equal(ImageContract.CpuAccelerator, recorded.Accelerator);

        // Another repository becomes the latest; pushing the first again moves it back to the end, without a duplicate.
        await new ContainerizePipeline(Store, new LineProgress()).RunAsync(bento, Push($"{registry.Host}/mirror/alpha:v1"), default);
        Assert.Equal($"{registry.Host}/mirror/alpha@{first.Digest}", records.Latest(bento.Manifest)!.Reference);
        await new ContainerizePipeline(Store, new LineProgress()).RunAsync(bento, Push($"{registry.Host}/team/alpha:v1"), default);
        Assert.Equal([$"{registry.Host}/mirror/alpha@{first.Digest}", pushed.References[0]], records.Read(bento.Manifest).Select(r => r.Reference));

        // Deleting the bento forgets its pushes (the images stay in the registry).
        using (await Store.LockAsync()) await Store.DeleteAsync(bento);
        Assert.False(File.Exists(records.PathFor(bento.Manifest)));
    }

    [Fact]
    public void A_bad_command_line_is_refused_before_anything_is_read()
    {
        static string Refusal(string[] outputs, string[] tags, bool push, string? baseImage = null, string platform = "linux/amd64") =>
            Assert.Throws<UsageException>(() => ContainerizeRequest.Parse(outputs, tags, false, push, baseImage, platform, null, null, false, null, null)).Message;

        Assert.Contains("--push needs at least one -t", Refusal([], [], push: true));
        Assert.Contains("nothing to do", Refusal([], [], push: false));
        Assert.Contains("invalid -t 'UPPER/case:v1'", Refusal([], ["UPPER/case:v1"], push: true));
        Assert.Contains("invalid output 'zip:out'", Refusal(["zip:out"], [], push: false));
        Assert.Contains("invalid base image 'not a ref'", Refusal(["oci:x"], [], push: false, baseImage: "not a ref"));
        Assert.Contains("invalid platform 'amd64'", Refusal(["oci:x"], [], push: false, platform: "amd64"));
    }
}
