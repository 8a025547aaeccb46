using Bento.Core;
using Bento.Core.IO;
using k8s;
using k8s.Models;

namespace Bento.Deploy;

/// <summary>What <c>bento deploy</c> writes: named documents, printed together or written one file each.</summary>
public sealed record DeployDocument(string FileName, string Content);

public static class DeployOutput
{
    /// <summary>The Kubernetes objects in <paramref name="format"/> ("yaml" or "json"): one document per object.</summary>
    public static IReadOnlyList<DeployDocument> Kubernetes(IReadOnlyList<IKubernetesObject<V1ObjectMeta>> objects, string format) => format switch
    {
        "yaml" => objects.Select(o => new DeployDocument($"{o.Kind.ToLowerInvariant()}.yaml", KubernetesYaml.Serialize(o).TrimEnd() + "\n")).ToList(),
        "json" => objects.Select(o => new DeployDocument($"{o.Kind.ToLowerInvariant()}.json", KubernetesJson.Serialize(o) + "\n")).ToList(),
        _ => throw new UsageException($"-o '{format}' is not yaml or json"),
    };

    /// <summary>Everything as one stream: YAML documents separated by ---, JSON as a v1 List.</summary>
    public static string Joined(IReadOnlyList<IKubernetesObject<V1ObjectMeta>> objects, string format) =>
        format == "json" ? KubernetesObjects.ToJson(objects) : KubernetesObjects.ToYaml(objects);

    /// <summary>
    /// Writes each document into <paramref name="directory"/> (created if missing) through a temporary name, after
    /// checking every target, so a failure leaves no half-written file and nothing of a partial set.
    /// </summary>
    public static async Task<IReadOnlyList<string>> WriteAsync(string directory, IReadOnlyList<DeployDocument> documents, CancellationToken ct)
    {
        if (File.Exists(directory)) throw new BentoException($"--output-dir {directory}: is a file; give a directory");
        var paths = documents.Select(d => Path.Combine(directory, d.FileName)).ToList();
        foreach (var p in paths.Where(Directory.Exists))
            throw new BentoException($"--output-dir: {p} is a directory; remove it or choose another directory");
        try
        {
            Directory.CreateDirectory(directory);
            for (var i = 0; i < documents.Count; i++) await AtomicFile.WriteAllTextAsync(paths[i], documents[i].Content, ct);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new BentoException($"--output-dir {directory}: cannot write ({e.Message})", e);
        }
        return paths;
    }
}
