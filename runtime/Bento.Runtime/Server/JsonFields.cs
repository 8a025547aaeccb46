using System.Text.Json;
using System.Text.Json.Nodes;

namespace Bento.Runtime.Server;

/// <summary>Typed access to a request body: a wrong type or range is a 400 that names the field, never a 500.</summary>
internal sealed class JsonFields
{
    private readonly JsonObject _body;

    public JsonFields(JsonObject body) => _body = body;

    public static async Task<JsonFields> ReadAsync(HttpRequest request, CancellationToken ct)
    {
        JsonNode? node;
        var body = await ReadBodyAsync(request, ct);
        try
        {
            // A key given twice is refused while parsing (a JsonException), not when the object is first read.
            node = JsonNode.Parse(body, documentOptions: new JsonDocumentOptions { AllowDuplicateProperties = false });
        }
        catch (JsonException e)
        {
            throw ApiException.BadRequest($"the request body is not valid JSON: {e.Message}");
        }
        catch (InvalidOperationException)
        {
            // The duplicate-key check reads every key; a key escaping a lone surrogate fails it this way.
            throw ApiException.BadRequest(@"a key of the request holds a lone UTF-16 surrogate (an escape such as \ud800 with no pair); send valid Unicode text");
        }
        if (node is not JsonObject obj) throw ApiException.BadRequest("the request body must be a JSON object");
        RequireValidText(obj);
        return new JsonFields(obj);
    }

    /// <summary>
    /// The whole body in one array of its own (Kestrel has already bounded it by max_request_bytes). Not pooled on
    /// purpose: a pooled buffer grown to a large body stays in the pool, per thread, after the request is gone; a
    /// large one is garbage as soon as the request is parsed, and <see cref="LargeRequestMemory"/> returns it.
    /// </summary>
    private static async Task<byte[]> ReadBodyAsync(HttpRequest request, CancellationToken ct)
    {
        if (request.ContentLength is { } length and <= int.MaxValue)
        {
            var body = GC.AllocateUninitializedArray<byte>((int)length);
            await request.Body.ReadExactlyAsync(body, ct);
            LargeRequestMemory.Noted(body.Length);
            return body;
        }
        using var buffer = new MemoryStream();
        await request.Body.CopyToAsync(buffer, ct);
        LargeRequestMemory.Noted(buffer.Length);
        return buffer.ToArray();
    }

    /// <summary>
    /// JSON may escape a lone UTF-16 surrogate (<c>"\ud800"</c>), which is no Unicode text: System.Text.Json only
    /// notices when the string is read, as an InvalidOperationException. Every string and key is read here once, so
    /// that is a 400 naming where it is, before any field is used.
    /// </summary>
    private static void RequireValidText(JsonNode root)
    {
        // Paths are tracked here, not asked of the node: GetPath itself reads keys, which may be the broken text.
        var pending = new Stack<(JsonNode Node, string Path)>();
        pending.Push((root, ""));
        while (pending.Count > 0)
        {
            var (node, path) = pending.Pop();
            try
            {
                switch (node)
                {
                    case JsonObject o:
                        foreach (var (key, child) in o) if (child is not null) pending.Push((child, path.Length == 0 ? key : $"{path}.{key}"));
                        break;
                    case JsonArray a:
                        for (var i = 0; i < a.Count; i++) if (a[i] is { } child) pending.Push((child, $"{path}[{i}]"));
                        break;
                    case JsonValue v when v.GetValueKind() == JsonValueKind.String:
                        v.GetValue<string>();
                        break;
                }
            }
            catch (InvalidOperationException)
            {
                var where = node is JsonObject ? (path.Length == 0 ? "a key of the request" : $"a key in '{path}'") : $"'{path}'";
                throw ApiException.BadRequest($"{where} holds a lone UTF-16 surrogate (an escape such as \\ud800 with no pair); send valid Unicode text",
                    path.Length == 0 ? null : path.Split('.', '[')[0]);
            }
        }
    }

    public JsonNode? this[string name] => _body[name];

    public bool Has(string name) => _body[name] is not null;

    public string? String(string name)
    {
        var node = _body[name];
        if (node is null) return null;
        if (node is JsonValue v && v.TryGetValue<string>(out var s)) return s;
        throw ApiException.BadRequest($"'{name}' must be a string", name);
    }

    public bool? Bool(string name)
    {
        var node = _body[name];
        if (node is null) return null;
        if (node is JsonValue v && v.GetValueKind() is JsonValueKind.True or JsonValueKind.False) return v.GetValue<bool>();
        throw ApiException.BadRequest($"'{name}' must be a boolean", name);
    }

    public long? Integer(string name, long min, long max)
    {
        var node = _body[name];
        if (node is null) return null;
        if (node is JsonValue v && v.GetValueKind() == JsonValueKind.Number)
        {
            var d = v.GetValue<double>();
            if (d == Math.Floor(d) && d >= min && d <= max) return (long)d;
            throw ApiException.BadRequest($"'{name}' must be an integer from {min} to {max}, got {v.ToJsonString()}", name);
        }
        throw ApiException.BadRequest($"'{name}' must be an integer", name);
    }

    public double? Number(string name, double min, double max)
    {
        var node = _body[name];
        if (node is null) return null;
        if (node is JsonValue v && v.GetValueKind() == JsonValueKind.Number)
        {
            var d = v.GetValue<double>();
            if (!double.IsNaN(d) && d >= min && d <= max) return d;
            throw ApiException.BadRequest($"'{name}' must be a number from {min} to {max}, got {v.ToJsonString()}", name);
        }
        throw ApiException.BadRequest($"'{name}' must be a number", name);
    }

    /// <summary>A string or a list of strings (OpenAI's <c>stop</c>).</summary>
    public IReadOnlyList<string> StringOrList(string name)
    {
        var node = _body[name];
        switch (node)
        {
            case null: return [];
            case JsonValue v when v.TryGetValue<string>(out var s): return [s];
            case JsonArray a when a.All(x => x is JsonValue xv && xv.TryGetValue<string>(out _)):
                return a.Select(x => x!.GetValue<string>()).ToList();
            default: throw ApiException.BadRequest($"'{name}' must be a string or a list of strings", name);
        }
    }

    public IReadOnlyList<int> IntList(string name)
    {
        var node = _body[name];
        if (node is null) return [];
        if (node is JsonArray a && a.All(x => x is JsonValue xv && xv.TryGetValue<int>(out _)))
            return a.Select(x => x!.GetValue<int>()).ToList();
        throw ApiException.BadRequest($"'{name}' must be a list of integers", name);
    }
}
