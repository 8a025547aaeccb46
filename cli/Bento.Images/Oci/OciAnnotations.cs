namespace Bento.Images.Oci;

/// <summary>The pre-defined annotation keys of the OCI image spec (annotations.md) that BentoBuilder writes or reads.</summary>
public static class OciAnnotations
{
    public const string Created = "org.opencontainers.image.created";
    public const string Source = "org.opencontainers.image.source";
    public const string Revision = "org.opencontainers.image.revision";
    public const string Version = "org.opencontainers.image.version";
    public const string Title = "org.opencontainers.image.title";
    public const string Description = "org.opencontainers.image.description";
    public const string BaseName = "org.opencontainers.image.base.name";
    public const string BaseDigest = "org.opencontainers.image.base.digest";
    public const string RefName = "org.opencontainers.image.ref.name";

    /// <summary>containerd's (and Docker 25+'s) full image name on index entries of a docker-archive.</summary>
    public const string ContainerdImageName = "io.containerd.image.name";
}
