using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Bento.Images.Registry.Auth;

/// <summary>
/// The credential parts of a docker <c>config.json</c> (also the format of bento's own auth file): <c>auths</c> entries
/// keyed by registry (base64 <c>auth</c> = "user:password", or <c>username</c>/<c>password</c>, or
/// <c>identitytoken</c>), <c>credHelpers</c> (registry -> helper name) and <c>credsStore</c> (helper for all).
/// </summary>
internal sealed class DockerConfig
{
    private readonly Dictionary<string, JsonObject> _auths = new();
    private readonly Dictionary<string, string> _helpers = new();

    public string Path { get; }
    public string? CredsStore { get; private set; }

    private DockerConfig(string path) => Path = path;

    public static string DefaultPath() =>
        Environment.GetEnvironmentVariable("DOCKER_CONFIG") is { Length: > 0 } dir
            ? System.IO.Path.Combine(dir, "config.json")
            : System.IO.Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".docker", "config.json");

    /// <summary>Null when the file does not exist; an unreadable or malformed file is an error naming it.</summary>
    public static DockerConfig? Load(string path)
    {
        if (!File.Exists(path)) return null;
        var config = new DockerConfig(path);
        JsonNode? root;
        try { root = JsonNode.Parse(File.ReadAllText(path)); }
        catch (JsonException e) { throw new RegistryException($"cannot read credentials: '{path}' is not valid JSON ({e.Message})"); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new RegistryException($"cannot read credentials from '{path}': {e.Message}"); }
        if (root is not JsonObject obj) return config;
        if (obj["auths"] is JsonObject auths)
            foreach (var (key, value) in auths)
                if (value is JsonObject entry && ImageReference.NormalizeRegistry(key) is { } registry)
                    config._auths.TryAdd(registry, entry);
        if (obj["credHelpers"] is JsonObject helpers)
            foreach (var (key, value) in helpers)
                if (value is JsonValue v && v.TryGetValue<string>(out var name) && name.Length > 0 && ImageReference.NormalizeRegistry(key) is { } registry)
                    config._helpers.TryAdd(registry, name);
        if (obj["credsStore"] is JsonValue store && store.TryGetValue<string>(out var storeName) && storeName.Length > 0)
            config.CredsStore = storeName;
        return config;
    }

    public string? HelperFor(string registry) => _helpers.GetValueOrDefault(registry);

    /// <summary>The inline credential in <c>auths</c>, if the entry holds one (an empty entry only marks a helper's key).</summary>
    public RegistryCredential? InlineCredential(string registry, string source)
    {
        if (!_auths.TryGetValue(registry, out var entry)) return null;
        if (Text(entry, "identitytoken") is { Length: > 0 } identity)
            return new RegistryCredential(RegistryCredential.IdentityTokenUser, identity, source);
        if (Text(entry, "auth") is { Length: > 0 } auth)
        {
            string decoded;
            try { decoded = Encoding.UTF8.GetString(Convert.FromBase64String(auth)); }
            catch (FormatException) { throw new RegistryException($"cannot read credentials: the 'auth' entry for {registry} in '{Path}' is not base64"); }
            var colon = decoded.IndexOf(':');
            if (colon <= 0) throw new RegistryException($"cannot read credentials: the 'auth' entry for {registry} in '{Path}' is not base64 of USER:PASSWORD");
            return new RegistryCredential(decoded[..colon], decoded[(colon + 1)..], source);
        }
        if (Text(entry, "username") is { Length: > 0 } user && Text(entry, "password") is { } password)
            return new RegistryCredential(user, password, source);
        return null;
    }

    private static string? Text(JsonObject entry, string key) =>
        entry[key] is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;
}
