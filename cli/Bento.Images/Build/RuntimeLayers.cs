using System.Text.Json;
using Bento.Core;
using Bento.Core.IO;
using Bento.Core.Serving;
using Bento.Core.Store;
using Bento.Images.Layers;

namespace Bento.Images.Build;

/// <summary>
/// Splits a published (self-contained) runtime into three layers by how often each part changes, so that a change to
/// our code pushes a few megabytes, not LibTorch:
/// <list type="number">
/// <item><b>LibTorch</b> (~500 MB): the native assets of NuGet packages (libtorch*.so, libc10.so, libgomp, libLibTorchSharp.so),
///   changing only with the TorchSharp version;</item>
/// <item><b>.NET</b> (~70 MB): the self-contained runtime and ASP.NET Core (the <c>runtimepack.*</c> libraries), changing
///   with .NET servicing releases;</item>
/// <item><b>app</b> (~5 MB): bento-runtime itself, Bento.Core and the managed packages, deps.json, runtimeconfig.json.</item>
/// </list>
/// The split is read from <c>bento-runtime.deps.json</c>; a file it does not list goes to the app layer.
/// </summary>
public static class RuntimeLayers
{
    public enum Part
    {
        LibTorch,
        DotNet,
        App,
    }

    public sealed record RuntimeFile(string RelativePath, string FullPath, long Size, bool Executable, Part Part);

    public static IReadOnlyList<RuntimeFile> Classify(string publishDirectory)
    {
        if (!File.Exists(Path.Combine(publishDirectory, "bento-runtime")))
            throw new BentoException($"{publishDirectory} is not a published runtime (no bento-runtime executable in it)");
        if (!File.Exists(Path.Combine(publishDirectory, "libcoreclr.so")))
            throw new BentoException($"{publishDirectory} is not a self-contained runtime (no libcoreclr.so): the image has no .NET; publish with -r linux-x64 --self-contained");
        var parts = PartsFromDepsJson(Path.Combine(publishDirectory, "bento-runtime.deps.json"));
        var files = new List<RuntimeFile>();
        foreach (var full in Directory.EnumerateFiles(publishDirectory, "*", SearchOption.AllDirectories))
        {
            var relative = Path.GetRelativePath(publishDirectory, full).Replace('\\', '/');
            var info = new FileInfo(full);
            if (info.LinkTarget is not null) throw new BentoException($"{full} is a symbolic link; a published runtime should hold plain files");
            var executable = (info.UnixFileMode & (UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute)) != 0;
            var part = parts.TryGetValue(relative, out var p) ? p : Part.App;
            files.Add(new RuntimeFile(relative, full, info.Length, executable, part));
        }
        return files.OrderBy(f => f.RelativePath, StringComparer.Ordinal).ToList();
    }

    private static Dictionary<string, Part> PartsFromDepsJson(string path)
    {
        var parts = new Dictionary<string, Part>(StringComparer.Ordinal);
        if (!File.Exists(path)) return parts;
        using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
        if (!doc.RootElement.TryGetProperty("targets", out var targets)) return parts;
        foreach (var target in targets.EnumerateObject())
        foreach (var library in target.Value.EnumerateObject())
        {
            var isRuntimePack = library.Name.StartsWith("runtimepack.", StringComparison.Ordinal);
            foreach (var (assetKind, part) in new[] { ("runtime", Part.App), ("native", Part.LibTorch) })
            {
                if (!library.Value.TryGetProperty(assetKind, out var assets) || assets.ValueKind != JsonValueKind.Object) continue;
                foreach (var asset in assets.EnumerateObject())
                {
                    // Self-contained publishing flattens package paths: the file lands under its own name.
                    var name = Path.GetFileName(asset.Name);
                    parts[name] = isRuntimePack ? Part.DotNet : part;
                }
            }
        }
        return parts;
    }

    /// <summary>
    /// The device a published runtime can use: CUDA when its LibTorch carries libtorch_cuda.so (TorchSharp-cuda-linux),
    /// else CPU. The image's accelerator label says so, and <c>bento deploy --gpus</c> refuses a CPU-only image.
    /// </summary>
    public static string Accelerator(string runtimeDirectory) =>
        File.Exists(Path.Combine(runtimeDirectory, "libtorch_cuda.so")) ? ImageContract.CudaAccelerator : ImageContract.CpuAccelerator;

    /// <summary>One layer recipe per part (mtime fixed at the epoch: these layers are shared by every bento).</summary>
    public static async Task<IReadOnlyList<LayerRecipe>> RecipesAsync(IReadOnlyList<RuntimeFile> files, HashCache hashes, CancellationToken ct)
    {
        var recipes = new List<LayerRecipe>();
        foreach (var (part, description) in new[]
                 {
                     (Part.LibTorch, "runtime natives (LibTorch)"), (Part.DotNet, "runtime .NET (self-contained)"), (Part.App, "runtime app (bento-runtime)"),
                 })
        {
            var entries = new List<LayerEntry> { LayerEntry.Directory(ImageContract.RuntimeDirectory) };
            foreach (var file in files.Where(f => f.Part == part))
            {
                var sha = await HashAsync(file.FullPath, hashes, ct);
                entries.Add(LayerEntry.FromFile($"{ImageContract.RuntimeDirectory}/{file.RelativePath}", file.FullPath, file.Size, sha, file.Executable));
            }
            if (entries.Count > 1) recipes.Add(new LayerRecipe(description, entries, Compress: true, ImageAssembler.SharedLayerTime));
        }
        return recipes;
    }

    /// <summary>sha256 of a file through the store's hash cache (size, mtime, inode, device unchanged => not re-read).</summary>
    internal static async Task<string> HashAsync(string path, HashCache hashes, CancellationToken ct)
    {
        var full = Path.GetFullPath(path);
        var id = Posix.Identify(full);
        if (hashes.Lookup(full, id) is { } known) return known;
        var sha = await FileHasher.HashAsync(full, ct: ct);
        hashes.Remember(full, id, sha);
        return sha;
    }
}
