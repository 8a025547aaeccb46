using System.IO.Pipelines;
using Bento.Core;
using Bento.Images.Layout;
using Bento.Images.Oci;
using Docker.DotNet;
using Docker.DotNet.Models;

namespace Bento.Images.Daemon;

/// <summary>
/// Loads an image into a running Docker engine (<c>--load</c>): the docker-archive tar is streamed straight into the
/// engine's <c>POST /images/load</c> through Docker.DotNet, never written to disk. The engine is
/// <c>$DOCKER_HOST</c>, else <c>unix:///var/run/docker.sock</c>; when none answers the error says so in one line.
/// </summary>
public sealed class DockerDaemonSink(string? host = null) : IImageSink
{
    public string Host { get; } = host ?? DefaultHost();

    public static string DefaultHost() =>
        Environment.GetEnvironmentVariable("DOCKER_HOST") is { Length: > 0 } h ? h : "unix:///var/run/docker.sock";

    /// <summary>What the engine said it loaded ("Loaded image: …" lines), after <see cref="WriteAsync"/>.</summary>
    public IReadOnlyList<string> Messages => _messages;

    private readonly List<string> _messages = [];

    public async Task<Publication> WriteAsync(Image image, IReadOnlyList<string> tags, CancellationToken ct)
    {
        Uri uri;
        try { uri = new Uri(Host); }
        catch (UriFormatException) { throw new BentoException($"DOCKER_HOST '{Host}' is not a valid URI (expected unix:///path/docker.sock or tcp://host:port)"); }

        using var configuration = new DockerClientConfiguration(uri, null, Timeout.InfiniteTimeSpan);
        using var client = configuration.CreateClient();
        await PingAsync(client, ct);

        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 8 << 20, resumeWriterThreshold: 4 << 20, minimumSegmentSize: 1 << 20, useSynchronizationContext: false));
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var producer = Task.Run(async () =>
        {
            Exception? error = null;
            try
            {
                await using var output = pipe.Writer.AsStream(leaveOpen: true);
                await DockerArchive.WriteAsync(output, image, tags, stop.Token);
                await output.FlushAsync(stop.Token);
            }
            catch (Exception e)
            {
                error = e;
            }
            await pipe.Writer.CompleteAsync(error);
            return error;
        }, CancellationToken.None);

        string? engineError = null;
        var progress = new SyncProgress(m =>
        {
            var error = m.Error?.Message ?? m.ErrorMessage;
            if (!string.IsNullOrWhiteSpace(error)) engineError ??= error.Trim();
            if (!string.IsNullOrWhiteSpace(m.Stream)) lock (_messages) _messages.Add(m.Stream.Trim());
        });
        Exception? requestError = null;
        try
        {
            await using var body = pipe.Reader.AsStream(leaveOpen: true);
            await client.Images.LoadImageAsync(new ImageLoadParameters { Quiet = true }, body, progress, stop.Token);
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            requestError = e;
        }
        finally
        {
            await stop.CancelAsync();
            await pipe.Reader.CompleteAsync();
        }
        var producerError = await producer;
        // Our own failure (a corrupted blob, a changed weight file) explains an aborted upload best.
        if (producerError is BentoException bento) throw bento;
        ct.ThrowIfCancellationRequested();
        if (engineError is not null) throw new BentoException($"the Docker engine at {Host} could not load the image: {engineError}");
        if (requestError is not null)
            throw new BentoException($"loading the image into the Docker engine at {Host} failed: {Unwrap(requestError).Message}", requestError);
        if (producerError is not null and not OperationCanceledException)
            throw new BentoException($"streaming the image to the Docker engine failed: {producerError.Message}", producerError);
        return new Publication(Publication.DockerDaemon, Host, image.Manifest.Digest, tags) { ImageId = image.Config.Digest };
    }

    private async Task PingAsync(DockerClient client, CancellationToken ct)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(15));
        try
        {
            await client.System.PingAsync(timeout.Token);
        }
        catch (Exception e) when (!ct.IsCancellationRequested)
        {
            var why = e is OperationCanceledException ? "no answer within 15 s" : Unwrap(e).Message;
            throw new BentoException($"no Docker engine answers at {Host} ({why}); start Docker or point DOCKER_HOST at a running engine", e);
        }
    }

    private static Exception Unwrap(Exception e)
    {
        while (e is HttpRequestException or AggregateException && e.InnerException is not null) e = e.InnerException;
        return e;
    }

    /// <summary>Progress callbacks on the reporting thread (Progress&lt;T&gt; would post them and lose ordering).</summary>
    private sealed class SyncProgress(Action<JSONMessage> report) : IProgress<JSONMessage>
    {
        public void Report(JSONMessage value) => report(value);
    }
}
