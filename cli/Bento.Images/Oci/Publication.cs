namespace Bento.Images.Oci;

/// <summary>
/// What one sink produced, as ko's publishers return the reference they wrote: the kind of destination, where it is,
/// the manifest digest, and the names the image got there. For a registry <see cref="References"/> are pinned by digest
/// (<c>REGISTRY/REPOSITORY@sha256:...</c>), the form a deployment should run.
/// </summary>
/// <param name="Sink">"oci", "docker-archive", "docker-daemon" or "registry".</param>
/// <param name="Location">The layout directory, archive path, engine address, or REGISTRY/REPOSITORY.</param>
/// <param name="Names">Tags or references the image was given there (a layout's ref names, an archive's repo tags, pushed tags).</param>
public sealed record Publication(string Sink, string Location, string Digest, IReadOnlyList<string> Names)
{
    /// <summary>For pushes: each pushed repository pinned by the digest; empty for local sinks.</summary>
    public IReadOnlyList<string> References { get; init; } = [];

    /// <summary>For a Docker engine: the id it gives the loaded image (the config's digest).</summary>
    public string? ImageId { get; init; }

    /// <summary>For pushes: requests made and bytes moved.</summary>
    public Registry.PushResult? Push { get; init; }

    public const string OciLayout = "oci", DockerArchive = "docker-archive", DockerDaemon = "docker-daemon", Registry = "registry";
}
