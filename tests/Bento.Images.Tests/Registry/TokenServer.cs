using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Bento.Images.Tests.Registry;

/// <summary>
/// A minimal token service for docker-registry's <c>auth.token</c>: checks Basic credentials (GET) or an OAuth2
/// password grant (POST) and issues an RS256 JWT granting the requested repository scopes, signed with a key whose
/// self-signed certificate is the registry's <c>rootcertbundle</c> (the JWT's <c>kid</c> is libtrust's key id of it).
/// </summary>
public sealed class TokenServer : IDisposable
{
    public const string Service = "bento-test-registry";
    public const string Issuer = "bento-test-issuer";

    private readonly HttpListener _listener = new();
    private readonly RSA _key = RSA.Create(2048);
    private readonly string _kid;
    private readonly string _dir;
    private readonly Task _loop;

    public TokenServer(bool postOnly = false)
    {
        PostOnly = postOnly;
        _dir = Path.Combine(Path.GetTempPath(), "bento-token-" + Guid.NewGuid().ToString("N")[..10]);
        Directory.CreateDirectory(_dir);
        using var cert = TestCertificates.Create(_key, "bento-test-token-signer");
        CertificatePath = Path.Combine(_dir, "token.crt");
        File.WriteAllText(CertificatePath, cert.ExportCertificatePem() + "\n");
        _kid = KeyId(_key.ExportSubjectPublicKeyInfo());
        var port = FreeTcpPort.Pick();
        _listener.Prefixes.Add($"http://127.0.0.1:{port}/");
        _listener.Start();
        Realm = $"http://127.0.0.1:{port}/token";
        _loop = Task.Run(LoopAsync);
    }

    /// <summary>Only the OAuth2 POST is served (GET answers 405), to test the client's fallback.</summary>
    public bool PostOnly { get; }

    public string Realm { get; }
    public string CertificatePath { get; }

    /// <summary>Every token request: method and the scopes asked for.</summary>
    public ConcurrentQueue<(string Method, string[] Scopes, bool Granted)> Requests { get; } = new();

    private async Task LoopAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try { context = await _listener.GetContextAsync(); }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException) { return; }
            try { await HandleAsync(context); }
            catch (Exception e) when (e is HttpListenerException or IOException) { }
        }
    }

    private async Task HandleAsync(HttpListenerContext context)
    {
        var request = context.Request;
        var response = context.Response;
        string? user = null, password = null;
        string[] scopes;
        if (request.HttpMethod == "GET")
        {
            if (PostOnly)
            {
                response.StatusCode = 405;
                response.Close();
                Requests.Enqueue(("GET", [], false));
                return;
            }
            scopes = request.QueryString.GetValues("scope") ?? [];
            var header = request.Headers["Authorization"];
            if (header is not null && header.StartsWith("Basic ", StringComparison.Ordinal))
            {
                var decoded = Encoding.UTF8.GetString(Convert.FromBase64String(header[6..]));
                var colon = decoded.IndexOf(':');
                (user, password) = (decoded[..colon], decoded[(colon + 1)..]);
            }
        }
        else
        {
            using var reader = new StreamReader(request.InputStream);
            var form = System.Web.HttpUtility.ParseQueryString(await reader.ReadToEndAsync());
            scopes = (form["scope"] ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (form["grant_type"] == "password") (user, password) = (form["username"], form["password"]);
        }
        var granted = user == RegistryServer.User && password == RegistryServer.Password;
        Requests.Enqueue((request.HttpMethod, scopes, granted));
        if (!granted)
        {
            response.StatusCode = 401;
            await Write(response, """{"details":"invalid credentials"}""");
            return;
        }
        var token = Issue(user!, scopes);
        var body = request.HttpMethod == "GET"
            ? new JsonObject { ["token"] = token, ["expires_in"] = 300 }
            : new JsonObject { ["access_token"] = token, ["expires_in"] = 300 };
        await Write(response, body.ToJsonString());
    }

    private static async Task Write(HttpListenerResponse response, string json)
    {
        var bytes = Encoding.UTF8.GetBytes(json);
        response.ContentType = "application/json";
        response.ContentLength64 = bytes.Length;
        await response.OutputStream.WriteAsync(bytes);
        response.Close();
    }

    private string Issue(string subject, string[] scopes)
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var access = new JsonArray();
        foreach (var scope in scopes)
        {
            var parts = scope.Split(':');
            if (parts.Length < 3) continue;
            var actions = new JsonArray();
            foreach (var a in parts[^1].Split(',')) actions.Add(a);
            access.Add(new JsonObject { ["type"] = parts[0], ["name"] = string.Join(':', parts[1..^1]), ["actions"] = actions });
        }
        var header = new JsonObject { ["typ"] = "JWT", ["alg"] = "RS256", ["kid"] = _kid };
        var claims = new JsonObject
        {
            ["iss"] = Issuer, ["sub"] = subject, ["aud"] = Service, ["exp"] = now + 300, ["nbf"] = now - 10, ["iat"] = now,
            ["jti"] = Guid.NewGuid().ToString("N"), ["access"] = access,
        };
        var signingInput = B64(Encoding.UTF8.GetBytes(header.ToJsonString())) + "." + B64(Encoding.UTF8.GetBytes(claims.ToJsonString()));
        var signature = _key.SignData(Encoding.ASCII.GetBytes(signingInput), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        return signingInput + "." + B64(signature);
    }

    private static string B64(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    /// <summary>libtrust's key id: base32 of the first 240 bits of SHA-256(DER public key), in 12 groups of 4.</summary>
    private static string KeyId(byte[] subjectPublicKeyInfo)
    {
        var hash = SHA256.HashData(subjectPublicKeyInfo)[..30];
        const string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        var text = new StringBuilder();
        int buffer = 0, bits = 0;
        foreach (var b in hash)
        {
            buffer = (buffer << 8) | b;
            bits += 8;
            while (bits >= 5)
            {
                text.Append(alphabet[(buffer >> (bits - 5)) & 31]);
                bits -= 5;
            }
        }
        if (bits > 0) text.Append(alphabet[(buffer << (5 - bits)) & 31]);
        var s = text.ToString();
        return string.Join(':', Enumerable.Range(0, s.Length / 4).Select(i => s.Substring(i * 4, 4)));
    }

    public void Dispose()
    {
        _listener.Stop();
        _listener.Close();
        try { _loop.Wait(2000); } catch (AggregateException) { }
        _key.Dispose();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }
}
