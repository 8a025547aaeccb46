using System.Net;
using System.Net.Sockets;
using Polly;
using Polly.Retry;

namespace Bento.Images.Registry;

/// <summary>
/// Retries one request (or one chunk) with exponential backoff and jitter (Polly), honouring <c>Retry-After</c>.
/// Retried: 408, 429, 500, 502, 503, 504, connection resets, truncated transfers and requests that made no progress for
/// the request timeout. Not retried: refused connections and unknown hosts (the registry is unreachable), TLS
/// failures, other 4xx, and cancellation by the caller.
/// </summary>
internal sealed class Retrier
{
    private readonly ResiliencePipeline _pipeline;
    private readonly int _maxAttempts;

    public Retrier(RetryOptions options, TransferStats stats)
    {
        _maxAttempts = Math.Max(1, options.MaxAttempts);
        var builder = new ResiliencePipelineBuilder();
        if (_maxAttempts > 1)
            builder.AddRetry(new RetryStrategyOptions
            {
                MaxRetryAttempts = _maxAttempts - 1,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = options.BaseDelay,
                MaxDelay = options.MaxDelay,
                ShouldHandle = args => ValueTask.FromResult(args.Outcome.Exception is { } e && IsTransient(e)),
                DelayGenerator = args => ValueTask.FromResult(
                    args.Outcome.Exception is TransientException { RetryAfter: { } after }
                        ? (TimeSpan?)(after > options.MaxRetryAfter ? options.MaxRetryAfter : after)
                        : null),
                OnRetry = args =>
                {
                    stats.Retry();
                    if (args.Context.Properties.TryGetValue(ObserverKey, out var notify))
                        notify(args.AttemptNumber + 1, args.RetryDelay, Describe(args.Outcome.Exception!));
                    return default;
                },
            });
        _pipeline = builder.Build();
    }

    private static readonly ResiliencePropertyKey<Action<int, TimeSpan, string>> ObserverKey = new("bento.onRetry");

    /// <summary>
    /// Runs <paramref name="attempt"/> (given the zero-based attempt number) until it succeeds, fails for good, or the
    /// attempts are used up; the last transient failure then becomes a <see cref="RegistryException"/> naming
    /// <paramref name="operation"/>.
    /// </summary>
    public async Task<T> ExecuteAsync<T>(string operation, Func<int, CancellationToken, Task<T>> attempt,
        Action<string, int, TimeSpan, string>? onRetry, CancellationToken ct)
    {
        var context = ResilienceContextPool.Shared.Get(ct);
        var number = 0;
        try
        {
            if (onRetry is not null) context.Properties.Set(ObserverKey, (n, delay, reason) => onRetry(operation, n, delay, reason));
            return await _pipeline.ExecuteAsync(async (ctx, _) => await attempt(number++, ctx.CancellationToken), context, 0);
        }
        catch (Exception e) when (IsTransient(e))
        {
            throw new RegistryException($"{operation} failed after {number} attempt{(number == 1 ? "" : "s")}: {Describe(e)}",
                (e as TransientException)?.Status, null, e);
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }

    public Task ExecuteAsync(string operation, Func<int, CancellationToken, Task> attempt,
        Action<string, int, TimeSpan, string>? onRetry, CancellationToken ct) =>
        ExecuteAsync<bool>(operation, async (n, token) => { await attempt(n, token); return true; }, onRetry, ct);

    public static bool IsTransient(Exception e)
    {
        // Our own verdicts (a registry error, a blob that does not match its descriptor) and local file problems stay
        // what they are, however deeply HttpClient wrapped them.
        for (var x = e.InnerException; x is not null; x = x.InnerException)
            if (x is Bento.Core.BentoException or UploadSessionLostException) return false;
        return e switch
        {
            FileNotFoundException or DirectoryNotFoundException or PathTooLongException => false,
            _ => IsTransientKind(e),
        };
    }

    private static bool IsTransientKind(Exception e) => e switch
    {
        TransientException => true,
        TimeoutException => true,
        HttpRequestException h => h.HttpRequestError switch
        {
            HttpRequestError.NameResolutionError or HttpRequestError.SecureConnectionError
                or HttpRequestError.ConfigurationLimitExceeded or HttpRequestError.UserAuthenticationError => false,
            HttpRequestError.ConnectionError => !IsRefused(h),
            _ => true,
        },
        IOException => true,
        _ => false,
    };

    public static bool IsRefused(Exception e)
    {
        for (var x = e; x is not null; x = x.InnerException)
            if (x is SocketException { SocketErrorCode: SocketError.ConnectionRefused or SocketError.HostNotFound or SocketError.HostUnreachable or SocketError.NetworkUnreachable or SocketError.NoData or SocketError.TryAgain })
                return true;
        return false;
    }

    /// <summary>A short reason for messages: the deepest useful message of the chain.</summary>
    public static string Describe(Exception e)
    {
        if (e is TransientException or TimeoutException) return e.Message;
        var messages = new List<string>();
        for (var x = e; x is not null; x = x.InnerException)
            if (!string.IsNullOrWhiteSpace(x.Message)) messages.Add(x.Message.TrimEnd('.'));
        return messages.Count == 0 ? e.GetType().Name : string.Join(": ", messages.Distinct().Take(3));
    }
}
