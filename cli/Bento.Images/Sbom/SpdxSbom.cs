using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Xml.Linq;
using Bento.Core.Manifest;
using Bento.Core.Store;
using Bento.Images.Build;
using Bento.Images.Oci;

namespace Bento.Images.Sbom;

/// <summary>
/// An SPDX 2.3 JSON software bill of materials of a bento's image: the image (a CONTAINER package named by its manifest
/// digest), what it contains — the runtime's NuGet packages with versions, licences (from the packages' nuspecs, when
/// the NuGet cache has them) and checksums, LibTorch among them; the .NET runtime packs; the base image's Debian
/// packages as far as its dpkg status reveals them — and the model files with their SHA-256 (and the SHA-1 SPDX 2.3
/// requires of files). A slim image's model files are listed under its model artifact. Same image, same document.
/// </summary>
public static class SpdxSbom
{
    public const string MediaType = "application/spdx+json";
    public const string DocumentId = "SPDXRef-DOCUMENT";
    public const string ImageId = "SPDXRef-Image";
    public const string ArtifactId = "SPDXRef-ModelArtifact";

    public static async Task<byte[]> CreateAsync(StoredBento bento, AssembledImage assembled, string runtimeDirectory, string? imageName,
        Image? modelArtifact, CancellationToken ct)
    {
        var manifest = bento.Manifest;
        var image = assembled.Image;
        var digestHex = OciDigest.Hex(image.Manifest.Digest);
        var created = ImageAssembler.Rfc3339(ImageAssembler.ResolveCreated(manifest));
        var packages = new JsonArray();
        var files = new JsonArray();
        var relationships = new JsonArray { Relationship(DocumentId, "DESCRIBES", ImageId) };
        var name = imageName ?? $"{manifest.Name}:{manifest.Version}";
        packages.Add(new JsonObject
        {
            ["name"] = name,
            ["SPDXID"] = ImageId,
            ["versionInfo"] = image.Manifest.Digest,
            ["downloadLocation"] = "NOASSERTION",
            ["filesAnalyzed"] = false,
            ["primaryPackagePurpose"] = "CONTAINER",
            ["checksums"] = new JsonArray { Checksum("SHA256", digestHex) },
            ["externalRefs"] = new JsonArray { Purl($"pkg:oci/{Uri.EscapeDataString(manifest.Name)}@{Uri.EscapeDataString(image.Manifest.Digest)}") },
            ["comment"] = $"bento {manifest.Tag}",
        });

        foreach (var package in RuntimePackages(runtimeDirectory))
        {
            packages.Add(package);
            relationships.Add(Relationship(ImageId, "CONTAINS", (string)package["SPDXID"]!));
        }
        foreach (var package in await BasePackagesAsync(image.Layers.Take(assembled.BaseLayerCount).Select(l => l.Blob).ToList(), ct))
        {
            packages.Add(package);
            relationships.Add(Relationship(ImageId, "CONTAINS", (string)package["SPDXID"]!));
        }

        var modelOwner = ImageId;
        if (modelArtifact is not null)
        {
            modelOwner = ArtifactId;
            packages.Add(new JsonObject
            {
                ["name"] = $"{manifest.Name} model artifact",
                ["SPDXID"] = ArtifactId,
                ["versionInfo"] = modelArtifact.Manifest.Digest,
                ["downloadLocation"] = "NOASSERTION",
                ["filesAnalyzed"] = false,
                ["primaryPackagePurpose"] = "FILE",
                ["checksums"] = new JsonArray { Checksum("SHA256", OciDigest.Hex(modelArtifact.Manifest.Digest)) },
                ["comment"] = "CNCF ModelPack artifact holding the model files; mounted at run time (BENTO_MODEL_DIR)",
            });
            relationships.Add(Relationship(ImageId, "DEPENDS_ON", ArtifactId));
        }
        var index = 0;
        foreach (var file in manifest.Model.Files.OrderBy(f => f.Path, StringComparer.Ordinal))
        {
            var id = $"SPDXRef-Model-{index++}";
            var sha1 = await Sha1Async(bento.FilePath($"{BentoManifest.ModelDirectory}/{file.Path}"), ct);
            files.Add(new JsonObject
            {
                ["fileName"] = $"./{BentoFiles.ImageRoot}/{BentoManifest.ModelDirectory}/{file.Path}",
                ["SPDXID"] = id,
                ["checksums"] = new JsonArray { Checksum("SHA1", sha1), Checksum("SHA256", file.Sha256) },
                ["fileTypes"] = new JsonArray(BentoFiles.IsWeight(file) ? "BINARY" : "TEXT"),
                ["licenseConcluded"] = "NOASSERTION",
                ["copyrightText"] = "NOASSERTION",
            });
            relationships.Add(Relationship(modelOwner, "CONTAINS", id));
        }

        var document = new JsonObject
        {
            ["spdxVersion"] = "SPDX-2.3",
            ["dataLicense"] = "CC0-1.0",
            ["SPDXID"] = DocumentId,
            ["name"] = name,
            ["documentNamespace"] = $"https://spdx.org/spdxdocs/bentobuilder/{Uri.EscapeDataString(manifest.Name)}-{manifest.Version}-{digestHex}",
            ["creationInfo"] = new JsonObject { ["created"] = created, ["creators"] = new JsonArray("Tool: bentobuilder") },
            ["documentDescribes"] = new JsonArray(ImageId),
            ["packages"] = packages,
            ["files"] = files,
            ["relationships"] = relationships,
        };
        return JsonSerializer.SerializeToUtf8Bytes(document, new JsonSerializerOptions { WriteIndented = true });
    }

    private static JsonObject Checksum(string algorithm, string hex) => new() { ["algorithm"] = algorithm, ["checksumValue"] = hex };

    private static JsonObject Purl(string locator) => new() { ["referenceCategory"] = "PACKAGE-MANAGER", ["referenceType"] = "purl", ["referenceLocator"] = locator };

    private static JsonObject Relationship(string from, string type, string to) =>
        new() { ["spdxElementId"] = from, ["relationshipType"] = type, ["relatedSpdxElement"] = to };

    private static string Id(string prefix, string name, string version) =>
        $"SPDXRef-{prefix}-{new string($"{name}-{version}".Select(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '-' ? c : '-').ToArray())}";

    /// <summary>The runtime's NuGet packages and .NET runtime packs, from its deps.json; licences from the NuGet cache's nuspecs.</summary>
    public static IEnumerable<JsonObject> RuntimePackages(string runtimeDirectory)
    {
        var deps = Path.Combine(runtimeDirectory, "bento-runtime.deps.json");
        if (!File.Exists(deps)) yield break;
        using var doc = JsonDocument.Parse(File.ReadAllBytes(deps));
        if (!doc.RootElement.TryGetProperty("libraries", out var libraries)) yield break;
        var nugetRoot = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } root
            ? root : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        foreach (var library in libraries.EnumerateObject().OrderBy(l => l.Name, StringComparer.Ordinal))
        {
            var type = library.Value.TryGetProperty("type", out var t) ? t.GetString() : null;
            if (type is not ("package" or "runtimepack")) continue;
            var slash = library.Name.IndexOf('/');
            var id = library.Name[..slash];
            var version = library.Name[(slash + 1)..];
            if (type == "runtimepack") id = id["runtimepack.".Length..];
            var license = type == "runtimepack" ? "MIT" : NuspecLicense(Path.Combine(nugetRoot, id.ToLowerInvariant(), version.ToLowerInvariant(), id.ToLowerInvariant() + ".nuspec"));
            var package = new JsonObject
            {
                ["name"] = id,
                ["SPDXID"] = Id("NuGet", id, version),
                ["versionInfo"] = version,
                ["downloadLocation"] = type == "runtimepack" ? "NOASSERTION" : $"https://www.nuget.org/api/v2/package/{id}/{version}",
                ["filesAnalyzed"] = false,
                ["licenseConcluded"] = license,
                ["licenseDeclared"] = license,
                ["copyrightText"] = "NOASSERTION",
                ["primaryPackagePurpose"] = "LIBRARY",
                ["externalRefs"] = new JsonArray { Purl($"pkg:nuget/{id}@{version}") },
            };
            if (library.Value.TryGetProperty("sha512", out var sha) && sha.GetString() is { Length: > 7 } s && s.StartsWith("sha512-", StringComparison.Ordinal))
                package["checksums"] = new JsonArray { Checksum("SHA512", Convert.ToHexStringLower(Convert.FromBase64String(s[7..]))) };
            if (id.StartsWith("libtorch", StringComparison.OrdinalIgnoreCase))
                package["comment"] = "LibTorch (PyTorch's C++ library), the runtime's tensor engine";
            yield return package;
        }
    }

    /// <summary>A nuspec's licence expression, or NOASSERTION (no nuspec in the cache, or a licence file instead).</summary>
    private static string NuspecLicense(string nuspec)
    {
        try
        {
            if (!File.Exists(nuspec)) return "NOASSERTION";
            var license = XDocument.Load(nuspec).Descendants().FirstOrDefault(e => e.Name.LocalName == "license");
            return license?.Attribute("type")?.Value == "expression" && !string.IsNullOrWhiteSpace(license.Value) ? license.Value.Trim() : "NOASSERTION";
        }
        catch (Exception e) when (e is IOException or System.Xml.XmlException or UnauthorizedAccessException) { return "NOASSERTION"; }
    }

    /// <summary>
    /// The Debian packages installed in the base image, from <c>var/lib/dpkg/status</c> (or distroless' <c>status.d/</c>)
    /// in its layers, upper layers winning. A base without dpkg metadata contributes nothing.
    /// </summary>
    public static async Task<IReadOnlyList<JsonObject>> BasePackagesAsync(IReadOnlyList<IBlob> layers, CancellationToken ct)
    {
        var stanzas = new Dictionary<string, string>(StringComparer.Ordinal); // path -> content
        foreach (var layer in layers)
        {
            await using var raw = await BlobCopy.OpenVerifiedAsync(layer, ct);
            Stream tarStream = layer.Descriptor.MediaType.EndsWith("gzip", StringComparison.Ordinal) || layer.Descriptor.MediaType.EndsWith(".gzip", StringComparison.Ordinal)
                ? new GZipStream(raw, CompressionMode.Decompress) : raw;
            if (layer.Descriptor.MediaType.EndsWith("zstd", StringComparison.Ordinal)) continue; // none of the usual bases; not read
            await using var tar = new TarReader(tarStream);
            TarEntry? entry;
            while ((entry = await tar.GetNextEntryAsync(copyData: false, ct)) is not null)
            {
                var path = entry.Name.TrimStart('.', '/');
                var dir = Path.GetDirectoryName(path)?.Replace('\\', '/') ?? "";
                var file = Path.GetFileName(path);
                if (file.StartsWith(".wh.", StringComparison.Ordinal)) { stanzas.Remove($"{dir}/{file[4..]}"); continue; }
                if (entry.EntryType is not (TarEntryType.RegularFile or TarEntryType.V7RegularFile) || entry.DataStream is null) continue;
                if (path != "var/lib/dpkg/status" && dir != "var/lib/dpkg/status.d") continue;
                if (entry.Length > 64 << 20) continue;
                using var reader = new StreamReader(entry.DataStream);
                stanzas[path] = await reader.ReadToEndAsync(ct);
            }
            // Read to the end, so the blob's digest is checked.
            await raw.CopyToAsync(Stream.Null, ct);
        }
        var packages = new SortedDictionary<string, JsonObject>(StringComparer.Ordinal);
        foreach (var text in stanzas.Values)
        foreach (var stanza in text.Split("\n\n", StringSplitOptions.RemoveEmptyEntries))
        {
            var fields = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            foreach (var line in stanza.Split('\n'))
            {
                if (line.Length == 0 || char.IsWhiteSpace(line[0])) continue;
                var colon = line.IndexOf(':');
                if (colon > 0) fields[line[..colon]] = line[(colon + 1)..].Trim();
            }
            if (!fields.TryGetValue("Package", out var name) || !fields.TryGetValue("Version", out var version)) continue;
            if (fields.TryGetValue("Status", out var status) && !status.EndsWith(" installed", StringComparison.Ordinal)) continue;
            var arch = fields.GetValueOrDefault("Architecture") ?? "all";
            packages[$"{name}:{arch}"] = new JsonObject
            {
                ["name"] = name,
                ["SPDXID"] = Id("Deb", $"{name}-{arch}", version),
                ["versionInfo"] = version,
                ["downloadLocation"] = "NOASSERTION",
                ["filesAnalyzed"] = false,
                ["supplier"] = fields.GetValueOrDefault("Maintainer") is { Length: > 0 } m ? $"Person: {m}" : "NOASSERTION",
                ["licenseConcluded"] = "NOASSERTION",
                ["licenseDeclared"] = "NOASSERTION",
                ["copyrightText"] = "NOASSERTION",
                ["externalRefs"] = new JsonArray { Purl($"pkg:deb/debian/{Uri.EscapeDataString(name)}@{Uri.EscapeDataString(version)}?arch={arch}") },
                ["comment"] = "from the base image's dpkg status",
            };
        }
        return packages.Values.ToList();
    }

    private static async Task<string> Sha1Async(string path, CancellationToken ct)
    {
        await using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.SequentialScan | FileOptions.Asynchronous);
        return Convert.ToHexStringLower(await SHA1.HashDataAsync(file, ct));
    }
}
