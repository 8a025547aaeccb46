using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Bento.Core.Store;

namespace Bento.Images.Registry.Auth;

/// <summary>
/// The credentials <c>bento login</c> saves: <c>$BENTO_HOME/auth.json</c>, mode 0600, in docker's
/// <c>{"auths":{"REGISTRY":{"auth":"base64(user:password)"}}}</c> format. Like docker without a credential store, the
/// secret is only encoded, not encrypted: the file mode is what protects it.
/// </summary>
public sealed class BentoCredentialStore
{
    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    public BentoCredentialStore(string? path = null) => Path = path ?? DefaultPath();

    public string Path { get; }

    public static string DefaultPath() => System.IO.Path.Combine(BentoStore.DefaultRoot(), "auth.json");

    public void Save(string registry, string username, string secret)
    {
        if (username.Contains(':')) throw new RegistryException("the user name must not contain ':'");
        var root = Read();
        var auths = root["auths"] as JsonObject ?? new JsonObject();
        root["auths"] = auths;
        auths[registry] = new JsonObject { ["auth"] = Convert.ToBase64String(Encoding.UTF8.GetBytes($"{username}:{secret}")) };
        Write(root);
    }

    /// <summary>True when an entry was removed.</summary>
    public bool Remove(string registry)
    {
        if (!File.Exists(Path)) return false;
        var root = Read();
        if (root["auths"] is not JsonObject auths) return false;
        var key = auths.Select(p => p.Key).FirstOrDefault(k => ImageReference.NormalizeRegistry(k) == registry);
        if (key is null) return false;
        auths.Remove(key);
        Write(root);
        return true;
    }

    private JsonObject Read()
    {
        if (!File.Exists(Path)) return new JsonObject();
        try { return JsonNode.Parse(File.ReadAllText(Path)) as JsonObject ?? new JsonObject(); }
        catch (JsonException e) { throw new RegistryException($"cannot read '{Path}': not valid JSON ({e.Message})"); }
    }

    private void Write(JsonObject root)
    {
        var dir = System.IO.Path.GetDirectoryName(Path)!;
        Directory.CreateDirectory(dir);
        var temp = System.IO.Path.Combine(dir, $".auth-{Environment.ProcessId}-{Guid.NewGuid():N}.tmp");
        try
        {
            // Created 0600 from the start, so the secret is never readable by others, not even briefly.
            var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
            if (!OperatingSystem.IsWindows()) options.UnixCreateMode = OwnerOnly;
            using (var stream = new FileStream(temp, options))
            {
                stream.Write(Encoding.UTF8.GetBytes(root.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n"));
                stream.Flush(flushToDisk: true);
            }
            if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(temp, OwnerOnly);
            File.Move(temp, Path, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            try { File.Delete(temp); } catch (IOException) { }
            throw new RegistryException($"cannot write '{Path}': {e.Message}");
        }
    }
}
