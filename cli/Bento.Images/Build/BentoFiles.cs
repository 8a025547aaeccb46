using Bento.Core.Manifest;
using Bento.Core.Store;
using Bento.Images.Layers;

namespace Bento.Images.Build;

/// <summary>
/// Where a bento's files go in the image: <c>/bento</c>, exactly as in the store (<c>bento.yaml</c>, <c>model/…</c>,
/// <c>src/…</c>). Each weight file gets a layer of its own holding only <c>/bento/model/&lt;name&gt;</c> (and its parent
/// directories), with fixed metadata: the layer depends on nothing but the file's name and content, so every bento
/// with that weight file (any version, any config, any store, any machine) has a layer of the same digest, which a
/// registry stores and transfers once. Everything else of the bento is one small layer on top.
/// <para>
/// (Content-addressed paths with symbolic links from model/ would dedupe renamed weights too, but the runtime sizes
/// its memory mapping of a safetensors file with FileInfo.Length, which is the link's own length for a symlink; plain
/// files work with any runtime and any tool.)
/// </para>
/// </summary>
public sealed class BentoFiles
{
    public const string ImageRoot = "bento";

    /// <summary>Model files at least this large are weights even when they are not safetensors.</summary>
    public const long WeightThreshold = 64L << 20;

    public sealed record Weight(string Sha256, long Size, string SourceFile, string ModelPath)
    {
        public string ImagePath => $"{ImageRoot}/{BentoManifest.ModelDirectory}/{ModelPath}";
    }

    private BentoFiles(IReadOnlyList<Weight> weights, IReadOnlyList<LayerEntry> bentoEntries)
    {
        Weights = weights;
        BentoEntries = bentoEntries;
    }

    /// <summary>The weight files, by path.</summary>
    public IReadOnlyList<Weight> Weights { get; }

    /// <summary>The small, per-bento layer: bento.yaml, model config and tokenizer, src/.</summary>
    public IReadOnlyList<LayerEntry> BentoEntries { get; }

    public static bool IsWeight(ManifestFile file) =>
        file.Path.EndsWith(".safetensors", StringComparison.Ordinal) || file.Size >= WeightThreshold;

    public static BentoFiles Plan(StoredBento bento)
    {
        var manifest = bento.Manifest;
        var weights = new List<Weight>();
        var entries = new List<LayerEntry>
        {
            LayerEntry.FromBytes($"{ImageRoot}/{BentoManifest.FileName}", File.ReadAllBytes(bento.FilePath(BentoManifest.FileName))),
        };
        foreach (var file in manifest.Model.Files.OrderBy(f => f.Path, StringComparer.Ordinal))
        {
            var bentoPath = $"{BentoManifest.ModelDirectory}/{file.Path}";
            if (IsWeight(file))
                weights.Add(new Weight(file.Sha256, file.Size, bento.FilePath(bentoPath), file.Path));
            else
            {
                entries.Add(LayerEntry.FromFile($"{ImageRoot}/{bentoPath}", bento.FilePath(bentoPath), file.Size, file.Sha256));
            }
        }
        foreach (var file in manifest.Files.OrderBy(f => f.Path, StringComparer.Ordinal))
        {
            var bentoPath = $"{BentoManifest.SourceDirectory}/{file.Path}";
            entries.Add(LayerEntry.FromFile($"{ImageRoot}/{bentoPath}", bento.FilePath(bentoPath), file.Size, file.Sha256));
        }
        return new BentoFiles(weights, entries);
    }

    /// <summary>The layer of one weight file: only that file (and its parents), mtime at the epoch.</summary>
    public static LayerRecipe WeightRecipe(Weight weight) => new(
        $"weights {weight.ModelPath}",
        [LayerEntry.FromFile(weight.ImagePath, weight.SourceFile, weight.Size, weight.Sha256)],
        Compress: false,
        ImageAssembler.SharedLayerTime);
}
