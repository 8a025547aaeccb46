using Bento.Core.Serving;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Bento.Core;
using Bento.Core.IO;
using Bento.Core.Store;
using Bento.Images.Layers;
using Bento.Images.Oci;

namespace Bento.Images.Build;

/// <summary>
/// <c>--dockerfile DIR</c>: a <c>docker build</c> context that produces an image equivalent to the one we assemble —
/// the published runtime in three parts, one COPY per weight file, the rest of the bento, and the
/// same ENV, LABEL, USER, WORKDIR, EXPOSE, STOPSIGNAL, HEALTHCHECK and ENTRYPOINT — from <c>templates/docker/Dockerfile</c>.
/// Files are hard-linked from the store and the runtime cache where possible (copied across file systems), so even a
/// large model costs no extra space.
/// </summary>
public static class DockerfileContext
{
    private const string TemplateResource = "templates/docker/Dockerfile";

    private static readonly JsonSerializerOptions Relaxed = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static async Task WriteAsync(string directory, StoredBento bento, AssembledImage image, string runtimeDirectory, string baseImage, string? baseNote, CancellationToken ct)
    {
        var dir = Path.GetFullPath(directory);
        if (File.Exists(dir)) throw new BentoException($"--dockerfile {dir}: is a file; give a new or empty directory");
        if (Directory.Exists(dir) && Directory.EnumerateFileSystemEntries(dir).Any())
            throw new BentoException($"--dockerfile {dir}: the directory is not empty; give a new or empty directory");
        var temp = Path.Combine(Path.GetDirectoryName(dir)!, $".{Path.GetFileName(dir)}.tmp-{Environment.ProcessId}-{Guid.NewGuid():N}");
        try
        {
            Directory.CreateDirectory(temp);
            var runtimeParts = new List<string>();
            foreach (var group in RuntimeLayers.Classify(runtimeDirectory).GroupBy(f => f.Part).OrderBy(g => g.Key))
            {
                var part = group.Key.ToString().ToLowerInvariant();
                foreach (var file in group) Place(file.FullPath, Path.Combine(temp, "runtime", part, file.RelativePath));
                runtimeParts.Add($"COPY runtime/{part}/ /{ImageContract.RuntimeDirectory}/");
            }
            var files = BentoFiles.Plan(bento);
            foreach (var weight in files.Weights) Place(weight.SourceFile, Path.Combine(temp, "weights", weight.ModelPath));
            foreach (var entry in files.BentoEntries)
            {
                var target = Path.Combine(temp, entry.Path);
                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                switch (entry.Kind)
                {
                    case LayerEntryKind.Symlink: File.CreateSymbolicLink(target, entry.LinkTarget!); break;
                    case LayerEntryKind.Directory: Directory.CreateDirectory(target); break;
                    default:
                        if (entry.Content is not null) await File.WriteAllBytesAsync(target, entry.Content, ct);
                        else Place(entry.SourceFile!, target);
                        break;
                }
            }
            await File.WriteAllTextAsync(Path.Combine(temp, "Dockerfile"), Render(bento, image, runtimeParts, files, baseImage, baseNote), new UTF8Encoding(false), ct);
            if (Directory.Exists(dir)) Directory.Delete(dir);
            Directory.Move(temp, dir);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Layout.OciLayoutSink.TryDeleteDirectory(temp);
            throw new BentoException($"writing the docker build context {dir} failed: {Layout.OciLayoutSink.Describe(e)}", e);
        }
        catch
        {
            Layout.OciLayoutSink.TryDeleteDirectory(temp);
            throw;
        }
    }

    private static string Render(StoredBento bento, AssembledImage image, IReadOnlyList<string> runtimeParts, BentoFiles files, string baseImage, string? baseNote)
    {
        var config = image.Config.Config!;
        var baseConfig = OciJson.Parse<ImageConfigDocument>(BaseConfigBytes(image), "base config");
        var baseEnv = new HashSet<string>(baseConfig.Config?.Env ?? [], StringComparer.Ordinal);
        var baseLabels = baseConfig.Config?.Labels ?? [];
        var env = (config.Env ?? []).Where(e => !baseEnv.Contains(e)).Select(e =>
        {
            var eq = e.IndexOf('=');
            return $"ENV {e[..eq]}={Quote(e[(eq + 1)..])}";
        });
        var labels = (config.Labels ?? []).Where(l => !baseLabels.TryGetValue(l.Key, out var v) || v != l.Value)
            .Select(l => $"LABEL {Quote(l.Key)}={Quote(l.Value)}");
        var health = config.Healthcheck is { } h
            ? $"HEALTHCHECK --interval={Seconds(h.Interval)} --timeout={Seconds(h.Timeout)} --start-period={Seconds(h.StartPeriod)} --retries={h.Retries} CMD {JsonSerializer.Serialize(h.Test.Skip(1), Relaxed)}"
            : "HEALTHCHECK NONE";
        var template = ReadTemplate();
        var values = new Dictionary<string, string>
        {
            ["TAG"] = bento.Tag,
            ["NAME"] = bento.Manifest.Name,
            ["VERSION"] = bento.Manifest.Version,
            ["BASE_IMAGE"] = baseImage,
            ["BASE_NOTE"] = baseNote ?? baseImage,
            ["RUNTIME_COPIES"] = string.Join("\n", runtimeParts),
            ["WEIGHT_COPIES"] = files.Weights.Count == 0 ? "# (no weight files)" : string.Join("\n", files.Weights.Select(w => $"COPY weights/{w.ModelPath} /{w.ImagePath}")),
            ["ENV"] = string.Join("\n", env),
            ["LABELS"] = string.Join("\n", labels),
            ["USER"] = config.User ?? ImageContract.User,
            ["PORT"] = string.Join(" ", (config.ExposedPorts ?? []).Keys),
            ["HEALTHCHECK"] = health,
            ["ENTRYPOINT"] = JsonSerializer.Serialize(config.Entrypoint ?? [], Relaxed),
        };
        foreach (var (key, value) in values) template = template.Replace("{{" + key + "}}", value, StringComparison.Ordinal);
        return template;
    }

    /// <summary>The base's config: ENV and LABEL lines repeat only what the image adds to it.</summary>
    private static byte[] BaseConfigBytes(AssembledImage image) => image.BaseConfigBytes;

    private static string ReadTemplate()
    {
        using var stream = typeof(Bento.Core.Spec.Scaffold).Assembly.GetManifestResourceStream(TemplateResource)
                           ?? throw new InvalidOperationException($"{TemplateResource} was not embedded at build time");
        return new StreamReader(stream).ReadToEnd();
    }

    private static string Seconds(long? ns) => ns is { } v ? (v / 1_000_000_000).ToString(CultureInfo.InvariantCulture) + "s" : "30s";

    /// <summary>A Dockerfile double-quoted word: backslash, quote and $ escaped (ENV and LABEL expand variables).</summary>
    private static string Quote(string s) =>
        "\"" + s.Replace("\\", "\\\\").Replace("\"", "\\\"").Replace("$", "\\$").Replace("\n", "\\n") + "\"";

    /// <summary>A hard link to <paramref name="source"/> where the file system allows it, else a copy.</summary>
    private static void Place(string source, string target)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(target)!);
        if (Posix.TryHardLink(source, target) != 0) File.Copy(source, target);
    }
}
