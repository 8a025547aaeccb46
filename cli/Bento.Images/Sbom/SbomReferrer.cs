using Bento.Images.Oci;
using Bento.Images.Registry;

namespace Bento.Images.Sbom;

/// <summary>
/// An SBOM as an OCI 1.1 referrer of its image: an artifact manifest (<c>artifactType</c> application/spdx+json, the
/// empty config, one layer holding the document) whose <c>subject</c> is the image's manifest, so registries list it
/// under the image (referrers API, or the <c>sha256-HEX</c> fallback tag) and tools such as ORAS and cosign find it.
/// </summary>
public static class SbomReferrer
{
    public const string EmptyConfigMediaType = "application/vnd.oci.empty.v1+json";
    public const string FileName = "sbom.spdx.json";

    public static (PushContent Content, Descriptor Referrer) Create(byte[] sbom, Descriptor subject, string created)
    {
        var empty = "{}"u8.ToArray();
        var config = new MemoryBlob(EmptyConfigMediaType, empty);
        var layerBlob = new MemoryBlob(SpdxSbom.MediaType, sbom);
        var annotations = new Dictionary<string, string> { [OciAnnotations.Created] = created };
        var document = new ManifestDocument
        {
            MediaType = MediaTypes.OciManifest,
            ArtifactType = SpdxSbom.MediaType,
            Config = DescriptorDocument.From(config.Descriptor),
            Layers = [DescriptorDocument.From(layerBlob.Descriptor with { Annotations = new Dictionary<string, string> { [OciAnnotations.Title] = FileName } })],
            Subject = DescriptorDocument.From(subject with { Annotations = null, Platform = null, ArtifactType = null }),
            Annotations = OciJson.Sorted(annotations),
        };
        var bytes = OciJson.Serialize(document);
        var digest = OciDigest.Of(bytes);
        var referrer = new Descriptor(MediaTypes.OciManifest, digest, bytes.Length) { ArtifactType = SpdxSbom.MediaType, Annotations = annotations };
        return (new PushContent([config, layerBlob], MediaTypes.OciManifest, bytes, digest), referrer);
    }
}
