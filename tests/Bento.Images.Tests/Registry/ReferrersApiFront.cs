using System.Collections.Concurrent;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Bento.Images.Tests.Registry;

/// <summary>
/// An HTTP front for docker-registry 2.8 that adds what distribution 2.8 lacks and OCI 1.1 registries have (no such
/// registry is installable here): a manifest PUT whose body has a <c>subject</c> is answered with the
/// <c>OCI-Subject</c> header and remembered, and <c>GET /v2/NAME/referrers/DIGEST</c> answers the OCI index of those
/// manifests (filtered by <c>artifactType</c>), as the distribution spec describes. Everything else is relayed as is.
/// It lets the tests drive the client's referrers-API path; the fallback-tag path runs against the plain registry.
/// </summary>
public sealed class ReferrersApiFront : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly HttpClient _upstream = new(new HttpClientHandler { AllowAutoRedirect = false });
    private readonly string _upstreamHost;
    private readonly ConcurrentDictionary<string, ConcurrentDictionary<string, JsonObject>> _referrers = new();
    private readonly Task _loop;

    public ReferrersApiFront(string upstreamHost)
    {
        _upstreamHost = upstreamHost;
        var port = FreeTcpPort.Pick();
        Host = $"127.0.0.1:{port}";
        _listener.Prefixes.Add($"http://{Host}/");
        _listener.Start();
        _loop = Task.Run(LoopAsync);
    }

    public string Host { get; }

    /// <summary>Requests to the referrers endpoint that were answered.</summary>
    public int ReferrersQueries;

    private async Task LoopAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try { context = await _listener.GetContextAsync(); }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException) { return; }
            _ = Task.Run(() => HandleAsync(context));
        }
    }

    private async Task HandleAsync(HttpListenerContext context)
    {
        var request = context.Request;
        var response = context.Response;
        try
        {
            var path = request.Url!.AbsolutePath;
            var marker = path.IndexOf("/referrers/", StringComparison.Ordinal);
            if (request.HttpMethod == "GET" && path.StartsWith("/v2/", StringComparison.Ordinal) && marker > 0)
            {
                Interlocked.Increment(ref ReferrersQueries);
                var key = $"{path[4..marker]}@{path[(marker + "/referrers/".Length)..]}";
                var wanted = request.QueryString["artifactType"];
                var manifests = new JsonArray();
                if (_referrers.TryGetValue(key, out var found))
                    foreach (var d in found.Values.Where(d => wanted is null || (string?)d["artifactType"] == wanted)) manifests.Add(d.DeepClone());
                var body = Encoding.UTF8.GetBytes(new JsonObject { ["schemaVersion"] = 2, ["mediaType"] = "application/vnd.oci.image.index.v1+json", ["manifests"] = manifests }.ToJsonString());
                response.StatusCode = 200;
                response.ContentType = "application/vnd.oci.image.index.v1+json";
                if (wanted is not null) response.AddHeader("OCI-Filters-Applied", "artifactType");
                await response.OutputStream.WriteAsync(body);
                return;
            }

            using var forward = new HttpRequestMessage(new HttpMethod(request.HttpMethod), $"http://{_upstreamHost}{request.Url.PathAndQuery}");
            byte[]? bodyBytes = null;
            if (request.HasEntityBody)
            {
                using var memory = new MemoryStream();
                await request.InputStream.CopyToAsync(memory);
                bodyBytes = memory.ToArray();
                forward.Content = new ByteArrayContent(bodyBytes);
            }
            foreach (var name in request.Headers.AllKeys.OfType<string>())
            {
                if (name is "Host" or "Content-Length" or "Connection" or "Transfer-Encoding") continue;
                var value = request.Headers[name]!;
                if (!forward.Headers.TryAddWithoutValidation(name, value)) forward.Content?.Headers.TryAddWithoutValidation(name, value);
            }
            using var answer = await _upstream.SendAsync(forward);
            response.StatusCode = (int)answer.StatusCode;
            foreach (var (name, values) in answer.Headers.Concat(answer.Content.Headers))
            {
                if (name is "Content-Length" or "Transfer-Encoding" or "Connection") continue;
                var value = string.Join(", ", values);
                // Upload locations are relative or point at the registry itself: keep them pointing at this front.
                if (name == "Location") value = value.Replace($"http://{_upstreamHost}", $"http://{Host}");
                response.AddHeader(name, value);
            }
            if (request.HttpMethod == "PUT" && path.Contains("/manifests/", StringComparison.Ordinal) && answer.StatusCode == HttpStatusCode.Created && bodyBytes is not null)
            {
                var manifest = JsonNode.Parse(bodyBytes)!;
                if (manifest["subject"]?["digest"]?.GetValue<string>() is { } subject)
                {
                    var repository = path[4..path.IndexOf("/manifests/", StringComparison.Ordinal)];
                    var digest = answer.Headers.TryGetValues("Docker-Content-Digest", out var d) ? d.First() : "";
                    _referrers.GetOrAdd($"{repository}@{subject}", _ => new())[digest] = new JsonObject
                    {
                        ["mediaType"] = (string?)manifest["mediaType"],
                        ["digest"] = digest,
                        ["size"] = bodyBytes.Length,
                        ["artifactType"] = (string?)manifest["artifactType"] ?? (string?)manifest["config"]?["mediaType"],
                        ["annotations"] = manifest["annotations"]?.DeepClone(),
                    };
                    response.AddHeader("OCI-Subject", subject);
                }
            }
            var content = await answer.Content.ReadAsByteArrayAsync();
            if (request.HttpMethod != "HEAD" && content.Length > 0) await response.OutputStream.WriteAsync(content);
            else if (request.HttpMethod == "HEAD" && answer.Content.Headers.ContentLength is { } length) response.ContentLength64 = length;
        }
        catch (Exception e) when (e is HttpListenerException or IOException or HttpRequestException or JsonException)
        {
            try { response.StatusCode = 502; } catch (InvalidOperationException) { }
        }
        finally
        {
            try { response.Close(); } catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException) { }
        }
    }

    public void Dispose()
    {
        _listener.Stop();
        _listener.Close();
        try { _loop.Wait(TimeSpan.FromSeconds(5)); } catch (AggregateException) { }
        _upstream.Dispose();
    }
}
