using System.Text.RegularExpressions;
using Bento.Core;
using Bento.Images.Oci;

namespace Bento.Images.Build;

public enum OutputKind
{
    OciLayout,
    DockerArchive,
}

/// <summary>
/// <c>--output</c> destinations, in skopeo's transport syntax: <c>oci:DIR[:REF]</c> (REF becomes the image's
/// <c>org.opencontainers.image.ref.name</c> in index.json) and <c>docker-archive:FILE[:NAME:TAG]</c> (the tag
/// <c>docker load</c> gives the image). The path ends at the first ':' after the transport, as in skopeo.
/// </summary>
public sealed partial record OutputSpec(OutputKind Kind, string Path, string? Reference)
{
    public const string Syntax = "oci:DIR[:REF] or docker-archive:FILE[:NAME:TAG]";

    // The OCI image layout's ref grammar (alphanum, with . _ - : @ / + inside).
    [GeneratedRegex(@"^[A-Za-z0-9]([A-Za-z0-9._:@/+-]*[A-Za-z0-9])?$")]
    private static partial Regex RefName();

    public static OutputSpec Parse(string text)
    {
        var colon = text.IndexOf(':');
        var transport = colon < 0 ? text : text[..colon];
        var kind = transport switch
        {
            "oci" => OutputKind.OciLayout,
            "docker-archive" => OutputKind.DockerArchive,
            _ => throw new UsageException($"invalid output '{text}': expected {Syntax}"),
        };
        var rest = colon < 0 ? "" : text[(colon + 1)..];
        var split = rest.IndexOf(':');
        var path = split < 0 ? rest : rest[..split];
        var reference = split < 0 ? null : rest[(split + 1)..];
        if (path.Length == 0) throw new UsageException($"invalid output '{text}': the {(kind == OutputKind.OciLayout ? "directory" : "file")} is missing (expected {Syntax})");
        if (reference is not null && !RefName().IsMatch(reference))
            throw new UsageException($"invalid output '{text}': '{reference}' is not a valid image name or tag");
        return new OutputSpec(kind, path, reference);
    }

    public override string ToString() =>
        (Kind == OutputKind.OciLayout ? "oci:" : "docker-archive:") + Path + (Reference is null ? "" : ":" + Reference);
}

/// <summary>A base image given as <c>oci:DIR[:REF]</c> (a local OCI layout); anything else is a registry reference.</summary>
public static class BaseImageSpec
{
    public const string DefaultReference = "mcr.microsoft.com/dotnet/runtime-deps:10.0";

    public static bool IsLayout(string text) => text.StartsWith("oci:", StringComparison.Ordinal);

    public static Layout.OciLayoutSource OpenLayout(string text)
    {
        var rest = text["oci:".Length..];
        var split = rest.IndexOf(':');
        var path = split < 0 ? rest : rest[..split];
        var reference = split < 0 ? null : rest[(split + 1)..];
        if (path.Length == 0) throw new UsageException($"invalid base image '{text}': expected oci:DIR[:REF] or a registry reference");
        return new Layout.OciLayoutSource(path, string.IsNullOrEmpty(reference) ? null : reference);
    }
}

/// <summary><c>--platform os/arch[/variant]</c>; images need the runtime's RID, so only what TorchSharp ships for is accepted.</summary>
public static class PlatformSpec
{
    public static Platform Parse(string text)
    {
        var parts = text.Split('/');
        if (parts.Length is < 2 or > 3 || parts.Any(p => p.Length == 0))
            throw new UsageException($"invalid platform '{text}': expected OS/ARCH[/VARIANT], e.g. linux/amd64");
        return new Platform(parts[0], parts[1], parts.Length == 3 ? parts[2] : null);
    }

    /// <summary>The .NET runtime identifier to publish the runtime for.</summary>
    public static string RuntimeIdentifier(Platform platform) => (platform.Os, platform.Architecture) switch
    {
        ("linux", "amd64") => "linux-x64",
        _ => throw new BentoException($"cannot build images for {platform}: the runtime's LibTorch (TorchSharp-cpu) ships native libraries for linux/amd64 only"),
    };
}
