using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Bento.Core;

namespace Bento.Images.Registry;

/// <summary>A registry operation failed in a way the user can act on; the message names the registry (and, for
/// authentication failures, where the credentials came from) but never contains a credential.</summary>
public class RegistryException : BentoException
{
    public RegistryException(string message, HttpStatusCode? status = null, string? errorCode = null, Exception? inner = null)
        : base(message, inner)
    {
        Status = status;
        ErrorCode = errorCode;
    }

    /// <summary>The HTTP status that ended the operation, when there was one.</summary>
    public HttpStatusCode? Status { get; }

    /// <summary>The registry's error code (<c>MANIFEST_UNKNOWN</c>, <c>DENIED</c>...), when it sent one.</summary>
    public string? ErrorCode { get; }
}

/// <summary>Credentials missing, rejected, or not allowed to do this (HTTP 401/403).</summary>
public sealed class RegistryAuthException(string message, HttpStatusCode? status = null, string? errorCode = null)
    : RegistryException(message, status, errorCode);

/// <summary>The repository, tag, manifest or blob does not exist (HTTP 404).</summary>
public sealed class RegistryNotFoundException(string message, string? errorCode = null)
    : RegistryException(message, HttpStatusCode.NotFound, errorCode);

/// <summary>Downloaded content does not hash to the digest that names it.</summary>
public sealed class DigestMismatchException(string message) : RegistryException(message);

/// <summary>A response worth retrying (408, 429, 5xx) or a transfer that broke; the retry pipeline handles it.</summary>
internal sealed class TransientException(string message, TimeSpan? retryAfter = null, HttpStatusCode? status = null, Exception? inner = null)
    : Exception(message, inner)
{
    public TimeSpan? RetryAfter { get; } = retryAfter;
    public HttpStatusCode? Status { get; } = status;
}

/// <summary>The registry no longer knows the upload session (404 BLOB_UPLOAD_UNKNOWN/INVALID): start the blob again.</summary>
internal sealed class UploadSessionLostException(string message) : Exception(message);

internal static class RegistryErrors
{
    private const int MaxErrorBody = 16 << 10;

    public static bool IsTransient(HttpStatusCode status) =>
        status is HttpStatusCode.RequestTimeout or HttpStatusCode.TooManyRequests or HttpStatusCode.InternalServerError
            or HttpStatusCode.BadGateway or HttpStatusCode.ServiceUnavailable or HttpStatusCode.GatewayTimeout;

    /// <summary>"HTTP 404 Not Found: MANIFEST_UNKNOWN: manifest unknown" from a response and its error body.</summary>
    public static async Task<(string Text, string? Code)> DescribeAsync(HttpResponseMessage response, CancellationToken ct)
    {
        var status = $"HTTP {(int)response.StatusCode} {response.ReasonPhrase}".TrimEnd();
        string? body = null;
        try
        {
            await using var stream = await response.Content.ReadAsStreamAsync(ct);
            var buffer = new byte[MaxErrorBody];
            var total = 0;
            int read;
            while (total < buffer.Length && (read = await stream.ReadAsync(buffer.AsMemory(total), ct)) > 0) total += read;
            body = System.Text.Encoding.UTF8.GetString(buffer, 0, total);
        }
        catch (Exception e) when (e is IOException or HttpRequestException or OperationCanceledException && !ct.IsCancellationRequested) { }
        var (detail, code) = ParseErrors(body);
        return (detail is null ? status : $"{status}: {detail}", code);
    }

    /// <summary>The distribution spec's <c>{"errors":[{"code","message"}]}</c>, flattened.</summary>
    public static (string? Detail, string? FirstCode) ParseErrors(string? body)
    {
        if (string.IsNullOrWhiteSpace(body)) return (null, null);
        try
        {
            using var doc = JsonDocument.Parse(body);
            if (doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("errors", out var errors) && errors.ValueKind == JsonValueKind.Array)
            {
                var parts = new List<string>();
                string? first = null;
                foreach (var error in errors.EnumerateArray())
                {
                    var code = error.TryGetProperty("code", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString() : null;
                    var message = error.TryGetProperty("message", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString() : null;
                    first ??= code;
                    parts.Add(code is null ? message ?? "" : message is null ? code : $"{code}: {message}");
                }
                return (parts.Count == 0 ? null : Truncate(string.Join("; ", parts)), first);
            }
        }
        catch (JsonException) { }
        // Not JSON (a proxy's HTML page): one line of it, at most.
        var line = body.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault();
        return (line is null || line.StartsWith('<') ? null : Truncate(line), null);
    }

    public static TimeSpan? RetryAfter(HttpResponseMessage response)
    {
        var header = response.Headers.RetryAfter;
        if (header is null) return null;
        if (header.Delta is { } delta) return delta < TimeSpan.Zero ? TimeSpan.Zero : delta;
        if (header.Date is { } date)
        {
            var wait = date - DateTimeOffset.UtcNow;
            return wait < TimeSpan.Zero ? TimeSpan.Zero : wait;
        }
        return null;
    }

    private static string Truncate(string text) => text.Length <= 300 ? text : text[..300] + "...";
}
