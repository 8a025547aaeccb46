using Bento.Images.Oci;

namespace Bento.Images.Registry;

/// <summary>
/// Pushes an image to a registry (see <see cref="RegistryClient.PushAsync"/>). Each entry of <c>tags</c> is a full
/// reference (<c>localhost:5000/llama:1.0</c>, <c>ghcr.io/me/llama:latest</c>); when the sink was given a
/// <c>repository</c>, a bare tag (<c>1.0</c> or <c>:1.0</c>) means that repository with that tag. With no tags at all the
/// image goes to <c>repository</c> itself.
/// </summary>
public sealed class RegistrySink(RegistryClient client, IPushObserver? observer = null, ImageReference? repository = null) : IImageSink
{
    public async Task<Publication> WriteAsync(Image image, IReadOnlyList<string> tags, CancellationToken ct)
    {
        var targets = tags.Select(Resolve).ToList();
        if (targets.Count == 0)
        {
            if (repository is null) throw new RegistryException("no registry reference to push to (expected REGISTRY/REPOSITORY:TAG)");
            targets.Add(repository);
        }
        var result = await client.PushAsync(image, targets, observer, ct);
        var repositories = targets.Select(t => t.Name).Distinct().ToList();
        return new Publication(Publication.Registry, string.Join(", ", repositories), result.Digest, targets.Select(t => t.ToString()).ToList())
        {
            References = repositories.Select(r => $"{r}@{result.Digest}").ToList(),
            Push = result,
        };
    }

    public ImageReference Resolve(string tag)
    {
        if (repository is not null && !tag.Contains('/') && (tag.StartsWith(':') || !tag.Contains(':')) && !tag.Contains('@'))
            return repository.WithTag(tag.TrimStart(':'));
        return ImageReference.Parse(tag);
    }
}
