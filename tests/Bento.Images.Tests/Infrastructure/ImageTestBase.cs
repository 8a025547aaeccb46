using Bento.Core.Store;
using Bento.Images.Build;
using Bento.Images.Layers;
using Bento.Images.Layout;
using Bento.Images.Oci;

namespace Bento.Images.Tests.Infrastructure;

/// <summary>A scratch directory with a store, a synthetic base image layout and a fake runtime, per test.</summary>
public abstract class ImageTestBase : IDisposable
{
    protected ImageTestBase()
    {
        Scratch = new TempDirectory("bento-images-test-");
        Store = new BentoStore(Scratch.Combine("store"));
        Runtime = SyntheticImages.FakeRuntime(Scratch.Combine("runtime"));
        BaseLayout = SyntheticImages.BaseLayoutAsync(Scratch.Combine("base")).GetAwaiter().GetResult();
    }

    protected TempDirectory Scratch { get; }
    protected BentoStore Store { get; }
    protected string Runtime { get; }
    protected string BaseLayout { get; }

    protected const string DefaultBentofile = "name: alpha\ndescription: a test bento\nenvs:\n  - {name: HF_HUB_OFFLINE, value: \"1\"}\nruntime:\n  port: 3000\n";

    protected Task<StoredBento> BentoAsync(string bentofile = DefaultBentofile, string project = "project", BentoStore? store = null) =>
        Bentos.CreateAsync(store ?? Store, Scratch.Combine(project), bentofile);

    protected static Task<Image> BaseAsync(string layout, string reference = "base") =>
        new OciLayoutSource(layout, reference).GetAsync(ImageAssembler.DefaultPlatform, default);

    /// <summary>Assembles the bento's image on the synthetic base; returns it with the builder (for its cache statistics).</summary>
    protected async Task<(AssembledImage Image, LayerBuilder Builder)> AssembleAsync(StoredBento bento, LayerCache? cache = null, string? runtime = null,
        string? baseLayout = null, ImageOptions? options = null, BentoStore? store = null)
    {
        var s = store ?? Store;
        var builder = new LayerBuilder(cache ?? LayerCache.ForStore(s));
        var image = await new ImageAssembler(builder).AssembleAsync(bento, await BaseAsync(baseLayout ?? BaseLayout), runtime ?? Runtime, s.LoadHashCache(), options ?? new ImageOptions(), default);
        return (image, builder);
    }

    protected static ImageConfigDocument Config(Image image) => OciJson.Parse<ImageConfigDocument>(image.ConfigBytes, "config");

    protected static ManifestDocument Manifest(Image image) => OciJson.Parse<ManifestDocument>(image.ManifestBytes, "manifest");

    public virtual void Dispose()
    {
        Scratch.Dispose();
        GC.SuppressFinalize(this);
    }
}
