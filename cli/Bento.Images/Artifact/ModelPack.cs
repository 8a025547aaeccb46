namespace Bento.Images.Artifact;

/// <summary>
/// The CNCF ModelPack specification's names (github.com/modelpack/model-spec, specs-go/v1: mediatype.go and
/// annotations.go), as far as a bento uses them, and the one media type of ours: the bento manifest's layer.
/// </summary>
public static class ModelPack
{
    public const string ArtifactType = "application/vnd.cncf.model.manifest.v1+json";
    public const string ConfigMediaType = "application/vnd.cncf.model.config.v1+json";

    /// <summary>An unarchived, uncompressed weight file: the blob is the file, so its digest is the file's sha256.</summary>
    public const string WeightRaw = "application/vnd.cncf.model.weight.v1.raw";

    /// <summary>An unarchived configuration file of the weights (config.json, tokenizer.json, ...).</summary>
    public const string WeightConfigRaw = "application/vnd.cncf.model.weight.config.v1.raw";

    public const string DocRaw = "application/vnd.cncf.model.doc.v1.raw";
    public const string CodeRaw = "application/vnd.cncf.model.code.v1.raw";

    /// <summary>The bento's own <c>bento.yaml</c> (ours, not ModelPack's): what <c>bento pull</c> rebuilds the bento from.</summary>
    public const string BentoManifestMediaType = "application/vnd.bentobuilder.bento.manifest.v1+yaml";

    /// <summary>Layer annotation: the file's path (relative; here, inside the bento directory).</summary>
    public const string FilepathAnnotation = "org.cncf.model.filepath";

    /// <summary>Layer annotation: the file's metadata as JSON (name, mode, uid, gid, size, mtime, typeflag).</summary>
    public const string FileMetadataAnnotation = "org.cncf.model.file.metadata+json";

    /// <summary>Layer annotation: "true" when the media type was guessed rather than checked.</summary>
    public const string MediaTypeUntestedAnnotation = "org.cncf.model.file.mediatype.untested";
}
