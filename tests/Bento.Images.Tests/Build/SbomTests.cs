using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Bento.Images.Build;
using Bento.Images.Oci;
using Bento.Images.Registry;
using Bento.Images.Sbom;
using Bento.Images.Tests.Infrastructure;
using Bento.Images.Tests.Registry;

namespace Bento.Images.Tests.Build;

/// <summary>
/// <c>bento containerize --sbom</c>: an SPDX 2.3 JSON document next to the OCI layout, valid against the SPDX 2.3
/// requirements (<see cref="SpdxChecks"/>), naming the runtime's NuGet packages with licences, the base's dpkg packages
/// and the model files with their sha256; pushed, it is found as a referrer of the image.
/// </summary>
public sealed class SbomTests(AnonymousRegistryFixture fixture) : ImageTestBase, IClassFixture<AnonymousRegistryFixture>
{
    private const string DpkgStatus = """
        Package: libc6
        Status: install ok installed
        Maintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>
        Architecture: amd64
        Version: 2.41-12
        Description: GNU C Library: Shared libraries
         Contains the standard libraries.

        Package: removed-thing
        Status: deinstall ok config-files
        Architecture: amd64
        Version: 1.0

        Package: ca-certificates
        Status: install ok installed
        Architecture: all
        Version: 20250419

        """;

    private async Task<ContainerizeRequest> RequestAsync(string[] outputs, string[] tags, bool push, bool separate = false)
    {
        var baseLayout = await SyntheticImages.BaseLayoutAsync(Scratch.Combine("dpkg-base"), dpkgStatus: DpkgStatus);
        // The runtime's deps.json names its packages as a published runtime's does.
        await File.WriteAllTextAsync(Path.Combine(Runtime, "bento-runtime.deps.json"), """
            {"runtimeTarget":{"name":".NETCoreApp,Version=v10.0/linux-x64"},"targets":{},
             "libraries":{
               "bento-runtime/1.0.0":{"type":"project","serviceable":false,"sha512":""},
               "runtimepack.Microsoft.NETCore.App.Runtime.linux-x64/10.0.12":{"type":"runtimepack","serviceable":false,"sha512":""},
               "TorchSharp/0.107.0":{"type":"package","serviceable":true,"sha512":"sha512-AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+Pw==","path":"torchsharp/0.107.0"},
               "libtorch-cpu-linux-x64/2.10.0":{"type":"package","serviceable":true,"sha512":""}
             }}
            """);
        return ContainerizeRequest.Parse(outputs, tags, load: false, push: push, $"oci:{baseLayout}:base", "linux/amd64", Runtime, null, insecure: true, null, null)
            with { Sbom = true, SeparateWeights = separate };
    }

    [Fact]
    public async Task The_sbom_next_to_the_layout_is_valid_spdx_and_lists_packages_licences_and_model_files()
    {
        var bento = await BentoAsync();
        var layout = Scratch.Combine("out", "layout");
        var result = await new ContainerizePipeline(Store, new LineProgress()).RunAsync(bento, await RequestAsync([$"oci:{layout}"], [], push: false), default);
        var path = layout + ".spdx.json";
        Assert.True(File.Exists(path));
        var doc = JsonNode.Parse(await File.ReadAllTextAsync(path))!;
        var problems = SpdxChecks.Problems(doc);
        Assert.True(problems.Count == 0, string.Join("\n", problems));

        var packages = doc["packages"]!.AsArray().Select(p => p!).ToList();
        var image = packages.Single(p => (string)p["SPDXID"]! == SpdxSbom.ImageId);
        Assert.Equal(result.Digest, (string)image["versionInfo"]!);
        Assert.Equal("CONTAINER", (string)image["primaryPackagePurpose"]!);
        var torch = packages.Single(p => (string)p["name"]! == "TorchSharp");
        Assert.Equal("0.107.0", (string)torch["versionInfo"]!);
        Assert.Equal("pkg:nuget/TorchSharp@0.107.0", (string)torch["externalRefs"]![0]!["referenceLocator"]!);
        // The licence comes from the package's nuspec in the NuGet cache (TorchSharp declares MIT).
        Assert.Equal("MIT", (string)torch["licenseDeclared"]!);
        Assert.Contains(packages, p => (string)p["name"]! == "libtorch-cpu-linux-x64" && ((string?)p["comment"])?.Contains("LibTorch") == true);
        Assert.Contains(packages, p => (string)p["name"]! == "Microsoft.NETCore.App.Runtime.linux-x64" && (string)p["versionInfo"]! == "10.0.12");
        Assert.Contains(packages, p => (string)p["name"]! == "libc6" && (string)p["versionInfo"]! == "2.41-12");
        Assert.Contains(packages, p => (string)p["name"]! == "ca-certificates");
        Assert.DoesNotContain(packages, p => (string)p["name"]! == "removed-thing");

        var files = doc["files"]!.AsArray().Select(f => f!).ToList();
        var weights = bento.Manifest.Model.Files.Single(f => f.Path == "model.safetensors");
        var file = files.Single(f => (string)f["fileName"]! == "./bento/model/model.safetensors");
        Assert.Contains(file["checksums"]!.AsArray(), c => (string)c!["algorithm"]! == "SHA256" && (string)c["checksumValue"]! == weights.Sha256);

        // Same image, same document.
        var again = await new ContainerizePipeline(Store, new LineProgress()).RunAsync(bento, await RequestAsync([$"oci:{Scratch.Combine("out", "again")}"], [], push: false), default);
        Assert.Equal(result.Digest, again.Digest);
        Assert.Equal(await File.ReadAllTextAsync(path), await File.ReadAllTextAsync(Scratch.Combine("out", "again") + ".spdx.json"));
    }

    [Fact]
    public async Task The_check_finds_what_spdx_requires()
    {
        var bento = await BentoAsync();
        var layout = Scratch.Combine("checked");
        await new ContainerizePipeline(Store, new LineProgress()).RunAsync(bento, await RequestAsync([$"oci:{layout}"], [], push: false), default);
        var text = await File.ReadAllTextAsync(layout + ".spdx.json");
        var noNamespace = JsonNode.Parse(text)!.AsObject();
        noNamespace.Remove("documentNamespace");
        Assert.Contains(SpdxChecks.Problems(noNamespace), p => p.Contains("documentNamespace"));
        var badFile = JsonNode.Parse(text)!;
        badFile["files"]![0]!["checksums"] = new JsonArray(new JsonObject { ["algorithm"] = "SHA256", ["checksumValue"] = new string('0', 64) });
        Assert.Contains(SpdxChecks.Problems(badFile), p => p.Contains("SHA1"));
        var dangling = JsonNode.Parse(text)!;
        dangling["relationships"]!.AsArray().Add(new JsonObject { ["spdxElementId"] = SpdxSbom.ImageId, ["relationshipType"] = "CONTAINS", ["relatedSpdxElement"] = "SPDXRef-nothing" });
        Assert.Contains(SpdxChecks.Problems(dangling), p => p.Contains("SPDXRef-nothing"));
    }

    [Fact]
    public async Task A_pushed_image_has_its_sbom_as_a_referrer()
    {
        var bento = await BentoAsync();
        var host = fixture.Server.Host;
        var request = await RequestAsync([$"oci:{Scratch.Combine("pushed")}"], [$"{host}/sbom/alpha:v1"], push: true);
        var result = await new ContainerizePipeline(Store, new LineProgress()).RunAsync(bento, request, default);
        // Pushed twice: still one referrer.
        await new ContainerizePipeline(Store, new LineProgress()).RunAsync(bento, request, default);

        using var client = new RegistryClient(new RegistryOptions { Insecure = [host], Credentials = new CredentialOptions { Anonymous = true } });
        var repository = ImageReference.Parse($"{host}/sbom/alpha");
        var referrers = await client.ReferrersAsync(repository, result.Digest, SpdxSbom.MediaType, default);
        var referrer = Assert.Single(referrers);
        Assert.Equal(SpdxSbom.MediaType, referrer.ArtifactType);
        var manifest = await client.GetManifestAsync(repository.WithDigest(referrer.Digest), null, default);
        var document = OciJson.Parse<ManifestDocument>(manifest.Bytes, "the SBOM's manifest");
        Assert.Equal(result.Digest, document.Subject!.Digest);
        var layer = document.Layers.Single().ToDescriptor();
        Assert.Equal(SpdxSbom.MediaType, layer.MediaType);
        var sbom = await client.GetSmallBlobAsync(repository, layer, IPullObserver.None, default);
        Assert.Equal(await File.ReadAllBytesAsync(Scratch.Combine("pushed") + ".spdx.json"), sbom);
        // docker-registry 2.8 has no referrers API: the fallback tag holds the index, as skopeo sees it.
        var tagged = Tools.Skopeo("inspect", "--raw", "--tls-verify=false", $"docker://{host}/sbom/alpha:{result.Digest.Replace(':', '-')}");
        Assert.True(tagged.ExitCode == 0, tagged.All);
        Assert.Contains(referrer.Digest, tagged.Output);
    }
}

/// <summary>
/// Against a registry that serves the OCI 1.1 referrers API (docker-registry 2.8 behind <see cref="ReferrersApiFront"/>):
/// the SBOM is found through the API, and no fallback tag is written.
/// </summary>
public sealed class SbomReferrersApiTests : ImageTestBase
{
    [Fact]
    public async Task The_sbom_is_found_through_the_referrers_api_without_a_fallback_tag()
    {
        using var registry = new RegistryServer(RegistryAuth.Anonymous, relativeUrls: true);
        using var front = new ReferrersApiFront(registry.Host);
        var bento = await BentoAsync();
        var request = ContainerizeRequest.Parse([], [$"{front.Host}/sbom/api:v1"], load: false, push: true, $"oci:{BaseLayout}:base", "linux/amd64", Runtime, null, insecure: true, null, null)
            with { Sbom = true };
        var result = await new ContainerizePipeline(Store, new LineProgress()).RunAsync(bento, request, default);

        using var client = new RegistryClient(new RegistryOptions { Insecure = [front.Host], Credentials = new CredentialOptions { Anonymous = true } });
        var repository = ImageReference.Parse($"{front.Host}/sbom/api");
        var referrer = Assert.Single(await client.ReferrersAsync(repository, result.Digest, SpdxSbom.MediaType, default));
        Assert.Equal(SpdxSbom.MediaType, referrer.ArtifactType);
        Assert.True(front.ReferrersQueries >= 1);
        Assert.False(await client.ManifestExistsAsync(repository.WithTag(result.Digest.Replace(':', '-')), default), "a fallback tag was written although the registry indexes referrers");
        Assert.Empty(await client.ReferrersAsync(repository, result.Digest, "application/vnd.example.other", default));
    }
}

/// <summary>
/// The SPDX 2.3 requirements a document must meet, written from the specification's required fields and formats
/// (clauses 6-11 and the 2.3 JSON schema's "required" lists), not from a copy of the schema: document creation
/// information, packages, files (with the mandatory SHA1), relationships, and identifiers that resolve.
/// </summary>
public static partial class SpdxChecks
{
    [GeneratedRegex("^SPDXRef-[A-Za-z0-9.-]+$")] private static partial Regex IdPattern();
    [GeneratedRegex(@"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")] private static partial Regex TimePattern();
    [GeneratedRegex("^(Person|Organization|Tool): .+")] private static partial Regex CreatorPattern();

    private static readonly Dictionary<string, int> ChecksumHexLength = new()
    {
        ["SHA1"] = 40, ["SHA224"] = 56, ["SHA256"] = 64, ["SHA384"] = 96, ["SHA512"] = 128, ["MD5"] = 32,
        ["SHA3-256"] = 64, ["SHA3-384"] = 96, ["SHA3-512"] = 128, ["BLAKE2b-256"] = 64, ["BLAKE2b-384"] = 96, ["BLAKE2b-512"] = 128,
    };

    private static readonly HashSet<string> Purposes = ["APPLICATION", "FRAMEWORK", "LIBRARY", "CONTAINER", "OPERATING-SYSTEM", "DEVICE", "FIRMWARE", "SOURCE", "ARCHIVE", "FILE", "INSTALL", "OTHER"];
    private static readonly HashSet<string> RelationshipTypes = ["DESCRIBES", "DESCRIBED_BY", "CONTAINS", "CONTAINED_BY", "DEPENDS_ON", "DEPENDENCY_OF", "GENERATED_FROM", "OTHER", "PACKAGE_OF", "VARIANT_OF", "DEV_DEPENDENCY_OF", "RUNTIME_DEPENDENCY_OF"];

    public static List<string> Problems(JsonNode doc)
    {
        var problems = new List<string>();
        string? Text(JsonNode? node, string field) => node?[field] is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;
        void Require(JsonNode? node, string where, params string[] fields)
        {
            foreach (var f in fields) if (node?[f] is null) problems.Add($"{where}: {f} is required");
        }
        Require(doc, "document", "spdxVersion", "dataLicense", "SPDXID", "name", "documentNamespace", "creationInfo");
        if (Text(doc, "spdxVersion") != "SPDX-2.3") problems.Add("document: spdxVersion must be SPDX-2.3");
        if (Text(doc, "dataLicense") != "CC0-1.0") problems.Add("document: dataLicense must be CC0-1.0");
        if (Text(doc, "SPDXID") != "SPDXRef-DOCUMENT") problems.Add("document: SPDXID must be SPDXRef-DOCUMENT");
        if (Text(doc, "documentNamespace") is { } ns && (!Uri.TryCreate(ns, UriKind.Absolute, out _) || ns.Contains('#')))
            problems.Add($"document: documentNamespace '{ns}' must be an absolute URI without '#'");
        var info = doc["creationInfo"];
        Require(info, "creationInfo", "created", "creators");
        if (Text(info, "created") is { } created && !TimePattern().IsMatch(created)) problems.Add($"creationInfo: created '{created}' is not YYYY-MM-DDThh:mm:ssZ");
        if (info?["creators"] is JsonArray creators && (creators.Count == 0 || creators.Any(c => !CreatorPattern().IsMatch((string?)c ?? ""))))
            problems.Add("creationInfo: creators must be 'Person: ', 'Organization: ' or 'Tool: ' entries");

        var ids = new HashSet<string> { "SPDXRef-DOCUMENT" };
        void Id(JsonNode item, string where)
        {
            var id = Text(item, "SPDXID");
            if (id is null || !IdPattern().IsMatch(id)) problems.Add($"{where}: SPDXID '{id}' is not SPDXRef-[letters, digits, . and -]");
            else if (!ids.Add(id)) problems.Add($"{where}: SPDXID {id} is used twice");
        }
        void Checksums(JsonNode? list, string where)
        {
            if (list is null) return;
            foreach (var c in list.AsArray())
            {
                var algorithm = Text(c, "algorithm") ?? "";
                var value = Text(c, "checksumValue") ?? "";
                if (!ChecksumHexLength.TryGetValue(algorithm, out var length)) problems.Add($"{where}: unknown checksum algorithm '{algorithm}'");
                else if (value.Length != length || !value.All(char.IsAsciiHexDigitLower)) problems.Add($"{where}: {algorithm} value '{value}' is not {length} lowercase hex digits");
            }
        }
        foreach (var p in doc["packages"]?.AsArray() ?? [])
        {
            var where = $"package {Text(p, "name")}";
            Require(p, where, "name", "SPDXID", "downloadLocation");
            Id(p!, where);
            if (p!["filesAnalyzed"] is null or JsonValue { } && p["filesAnalyzed"]?.GetValue<bool>() != false && p["packageVerificationCode"] is null)
                problems.Add($"{where}: filesAnalyzed is true (the default) but there is no packageVerificationCode");
            if (Text(p, "primaryPackagePurpose") is { } purpose && !Purposes.Contains(purpose)) problems.Add($"{where}: primaryPackagePurpose '{purpose}' is not one SPDX 2.3 defines");
            Checksums(p["checksums"], where);
            foreach (var r in p["externalRefs"]?.AsArray() ?? []) Require(r, $"{where} externalRef", "referenceCategory", "referenceType", "referenceLocator");
        }
        foreach (var f in doc["files"]?.AsArray() ?? [])
        {
            var where = $"file {Text(f, "fileName")}";
            Require(f, where, "fileName", "SPDXID", "checksums");
            Id(f!, where);
            Checksums(f!["checksums"], where);
            if (f["checksums"] is JsonArray sums && !sums.Any(c => Text(c, "algorithm") == "SHA1")) problems.Add($"{where}: a file's checksums must include SHA1 (clause 8.4)");
        }
        foreach (var r in doc["relationships"]?.AsArray() ?? [])
        {
            Require(r, "relationship", "spdxElementId", "relationshipType", "relatedSpdxElement");
            if (Text(r, "relationshipType") is { } type && !RelationshipTypes.Contains(type)) problems.Add($"relationship: unknown type {type}");
            foreach (var end in new[] { Text(r, "spdxElementId"), Text(r, "relatedSpdxElement") })
                if (end is not null && end is not ("NONE" or "NOASSERTION") && !ids.Contains(end)) problems.Add($"relationship: {end} is not an element of the document");
        }
        foreach (var d in doc["documentDescribes"]?.AsArray() ?? [])
            if (!ids.Contains((string?)d ?? "")) problems.Add($"documentDescribes: {(string?)d} is not an element of the document");
        return problems;
    }
}
