using System.Diagnostics.CodeAnalysis;
using System.Text.RegularExpressions;
using Bento.Core;

namespace Bento.Images.Registry;

/// <summary>
/// <c>[REGISTRY[:PORT]/]REPOSITORY[:TAG][@DIGEST]</c>, normalised the way docker does it: no registry means Docker Hub
/// (<c>ubuntu</c> is <c>registry-1.docker.io/library/ubuntu:latest</c>), <c>docker.io</c> and <c>index.docker.io</c> are
/// aliases of it, and the first path component is a registry only when it looks like a host (it contains '.' or ':',
/// or is <c>localhost</c>). Without a tag or digest the tag is <c>latest</c>.
/// </summary>
public sealed partial record ImageReference
{
    public const string DockerHubRegistry = "registry-1.docker.io";
    public const string DefaultTag = "latest";
    private const int MaxNameLength = 255;

    private ImageReference(string registry, string repository, string? tag, string? digest)
    {
        Registry = registry;
        Repository = repository;
        Tag = tag;
        Digest = digest;
    }

    /// <summary>The registry's API host, with its port when one was given (<c>registry-1.docker.io</c>, <c>localhost:5000</c>).</summary>
    public string Registry { get; }

    /// <summary>The repository inside the registry (<c>library/ubuntu</c>).</summary>
    public string Repository { get; }

    /// <summary>The tag; <c>latest</c> when neither a tag nor a digest was given, null for a digest-only reference.</summary>
    public string? Tag { get; }

    /// <summary><c>sha256:HEX</c> when the reference pins a digest.</summary>
    public string? Digest { get; }

    public bool IsDockerHub => Registry == DockerHubRegistry;

    /// <summary>What the manifest API is asked for: the digest when pinned, else the tag.</summary>
    public string ManifestReference => Digest ?? Tag ?? DefaultTag;

    /// <summary><c>REGISTRY/REPOSITORY</c>, the reference without tag or digest.</summary>
    public string Name => $"{Registry}/{Repository}";

    public ImageReference WithTag(string tag)
    {
        if (!TagPattern().IsMatch(tag)) throw Invalid($"{Name}:{tag}", $"the tag '{tag}' is invalid (letters, digits, '_', '.' and '-', at most 128 characters, not starting with '.' or '-')");
        return new ImageReference(Registry, Repository, tag, null);
    }

    public ImageReference WithDigest(string digest)
    {
        if (!DigestPattern().IsMatch(digest)) throw Invalid($"{Name}@{digest}", $"the digest '{digest}' is invalid (expected sha256: and 64 lowercase hex digits)");
        return new ImageReference(Registry, Repository, null, digest);
    }

    /// <summary>The same registry with another repository (for pushing one image to several repositories).</summary>
    public ImageReference WithRepository(string repository) => Parse($"{Registry}/{repository}:{Tag ?? DefaultTag}");

    public override string ToString() =>
        Name + (Tag is null ? "" : ":" + Tag) + (Digest is null ? "" : "@" + Digest);

    // A path component: lowercase alphanumerics separated by '.', '_', '__' or runs of '-'.
    [GeneratedRegex("^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")]
    private static partial Regex PathComponentPattern();

    [GeneratedRegex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")]
    private static partial Regex TagPattern();

    [GeneratedRegex("^(?:sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$")]
    private static partial Regex DigestPattern();

    // A host name (labels of letters, digits and inner '-'), an IPv4 address, or a bracketed IPv6 address; optional port.
    [GeneratedRegex(@"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$")]
    private static partial Regex HostPattern();

    public static ImageReference Parse(string text)
    {
        if (TryParse(text, out var reference, out var error)) return reference;
        throw Invalid(text, error);
    }

    public static bool TryParse(string text, [NotNullWhen(true)] out ImageReference? reference, [NotNullWhen(false)] out string? error)
    {
        reference = null;
        error = Explain(text, out var registry, out var repository, out var tag, out var digest);
        if (error is not null) return false;
        reference = new ImageReference(registry!, repository!, tag, digest);
        return true;
    }

    /// <summary>
    /// Normalises a registry name as users write it (<c>docker.io</c>, <c>https://index.docker.io/v1/</c>,
    /// <c>Localhost:5000</c>) to the API host this class uses; null when it is not a valid host[:port].
    /// </summary>
    public static string? NormalizeRegistry(string text)
    {
        var host = text.Trim();
        var scheme = host.IndexOf("://", StringComparison.Ordinal);
        if (scheme >= 0) host = host[(scheme + 3)..];
        var slash = host.IndexOf('/');
        if (slash >= 0) host = host[..slash];
        if (host.Length == 0 || !HostPattern().IsMatch(host) || !ValidPort(host)) return null;
        host = host.ToLowerInvariant();
        return host is "docker.io" or "index.docker.io" or DockerHubRegistry ? DockerHubRegistry : host;
    }

    private static string? Explain(string text, out string? registry, out string? repository, out string? tag, out string? digest)
    {
        registry = repository = tag = digest = null;
        if (string.IsNullOrWhiteSpace(text)) return "it is empty";
        if (Redact(text) != text)
            return "it contains credentials (USER:PASSWORD@); never put them in a reference: save them with 'bento login REGISTRY' instead";
        if (text != text.Trim()) return "it has leading or trailing whitespace";
        if (text.Contains("://", StringComparison.Ordinal)) return "a reference has no scheme (write HOST/REPOSITORY, not a URL)";

        var rest = text;
        var at = rest.IndexOf('@');
        if (at >= 0)
        {
            digest = rest[(at + 1)..];
            rest = rest[..at];
            if (!DigestPattern().IsMatch(digest))
                return $"the digest '{digest}' is invalid (expected sha256: and 64 lowercase hex digits)";
        }

        // The tag follows the last ':' after the last '/' (a ':' before a '/' is a registry port).
        var lastSlash = rest.LastIndexOf('/');
        var colon = rest.IndexOf(':', lastSlash + 1);
        if (colon >= 0)
        {
            tag = rest[(colon + 1)..];
            rest = rest[..colon];
            if (!TagPattern().IsMatch(tag))
                return tag.Length == 0
                    ? "the tag after ':' is empty"
                    : $"the tag '{tag}' is invalid (letters, digits, '_', '.' and '-', at most 128 characters, not starting with '.' or '-')";
        }
        if (rest.Length == 0) return "the repository name is empty";

        var firstSlash = rest.IndexOf('/');
        var first = firstSlash < 0 ? rest : rest[..firstSlash];
        string path;
        if (firstSlash >= 0 && (first.Contains('.') || first.Contains(':') || first == "localhost" || first.StartsWith('[')))
        {
            if (!HostPattern().IsMatch(first) || !ValidPort(first)) return $"the registry '{first}' is not a valid host[:port]";
            registry = first.ToLowerInvariant();
            if (registry is "docker.io" or "index.docker.io") registry = DockerHubRegistry;
            path = rest[(firstSlash + 1)..];
        }
        else
        {
            registry = DockerHubRegistry;
            path = rest;
        }
        if (path.Length == 0) return "the repository name is empty";
        if (registry == DockerHubRegistry && !path.Contains('/')) path = "library/" + path;

        foreach (var component in path.Split('/'))
        {
            if (component.Length == 0) return "the repository name has an empty path component ('//' or a trailing '/')";
            if (!PathComponentPattern().IsMatch(component))
                return component.Any(char.IsUpper)
                    ? $"the repository name must be lowercase ('{component}')"
                    : $"the repository path component '{component}' is invalid (lowercase letters and digits, separated by '.', '_', '__' or '-')";
        }
        if (registry.Length + 1 + path.Length > MaxNameLength) return $"the name is longer than {MaxNameLength} characters";

        repository = path;
        if (tag is null && digest is null) tag = DefaultTag;
        return null;
    }

    private static bool ValidPort(string host)
    {
        var close = host.LastIndexOf(']');
        var colon = host.LastIndexOf(':');
        if (colon < 0 || colon < close) return true;
        return int.TryParse(host.AsSpan(colon + 1), out var port) && port is > 0 and <= 65535;
    }

    private static UsageException Invalid(string text, string reason) =>
        new($"invalid image reference '{Redact(text)}': {reason}");

    /// <summary>
    /// The text with a URL-style <c>USER:PASSWORD@</c> (or <c>TOKEN@</c>) replaced by <c>***@</c>, for messages
    /// (<see cref="Auth.Redaction"/>): an '@' followed by a host and a '/' is never part of a valid reference (a digest
    /// has no '/'), but it is where people paste credentials (<c>https://me:TOKEN@ghcr.io/me/app</c>).
    /// </summary>
    public static string Redact(string text) => Auth.Redaction.Message(text);
}
