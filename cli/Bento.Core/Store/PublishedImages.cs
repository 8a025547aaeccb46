using System.Text.Json;
using System.Text.Json.Serialization;
using Bento.Core.IO;
using Bento.Core.Manifest;

namespace Bento.Core.Store;

/// <summary>One push of a bento's image: the reference pinned by digest and the tags it went to.</summary>
public sealed record PublishedImage(
    [property: JsonPropertyName("reference")] string Reference,
    [property: JsonPropertyName("digest")] string Digest,
    [property: JsonPropertyName("tags")] IReadOnlyList<string> Tags,
    [property: JsonPropertyName("accelerator")] string Accelerator,
    [property: JsonPropertyName("pushed")] DateTimeOffset Pushed,
    // A slim image's model artifact (REGISTRY/REPOSITORY@sha256:...), which deploy mounts as an image volume.
    [property: JsonPropertyName("model_artifact")] string? ModelArtifact = null);

/// <summary>
/// The images pushed for each bento, kept in the store (<c>published/NAME/VERSION.json</c>, oldest first), so
/// <c>bento get</c> shows them and <c>bento deploy</c> pins the last one by digest without being told. Outside the
/// bento's directory: the bento's content, version and verification stay as they were.
/// </summary>
public sealed class PublishedImages(BentoStore store)
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    public string PathFor(BentoManifest manifest) => Path.Combine(store.Root, "published", manifest.Name, manifest.Version + ".json");

    public IReadOnlyList<PublishedImage> Read(BentoManifest manifest)
    {
        var path = PathFor(manifest);
        if (!File.Exists(path)) return [];
        try
        {
            return JsonSerializer.Deserialize<List<PublishedImage>>(IO.InputFile.ReadAllBytes(path, InputLimits.ModelJsonBytes, "the pushed-image record"), Json) ?? [];
        }
        catch (JsonException e)
        {
            throw new BentoException($"{path}: unreadable record of pushed images ({e.Message}); delete the file (the images stay in their registries) and push again to record them");
        }
    }

    /// <summary>The most recent push, or null when the bento's image was never pushed.</summary>
    public PublishedImage? Latest(BentoManifest manifest) => Read(manifest) is { Count: > 0 } all ? all[^1] : null;

    /// <summary>Adds pushes (a reference pushed again moves to the end, as the latest). Takes the store lock: concurrent pushes both land.</summary>
    public async Task RecordAsync(BentoManifest manifest, IReadOnlyList<PublishedImage> images, CancellationToken ct = default)
    {
        if (images.Count == 0) return;
        using var _ = await store.LockAsync(ct: ct);
        var all = Read(manifest).Where(old => images.All(i => i.Reference != old.Reference)).Concat(images).ToList();
        var path = PathFor(manifest);
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            await AtomicFile.WriteAllTextAsync(path, JsonSerializer.Serialize(all, Json), ct);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw store.StoreError("record the pushed image", e);
        }
    }

    /// <summary>Forgets a deleted bento's pushes (the images stay in their registries). Call with the store lock held.</summary>
    public void Forget(BentoManifest manifest)
    {
        AtomicFile.TryDelete(PathFor(manifest));
        try { Directory.Delete(Path.GetDirectoryName(PathFor(manifest))!); } // only when no other version has a record
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}
