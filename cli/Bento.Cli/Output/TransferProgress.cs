using System.Collections.Concurrent;
using Bento.Images.Oci;
using Bento.Images.Registry;
using Spectre.Console;

namespace Bento.Cli.Output;

/// <summary>
/// What a push or a pull shows on stderr: on a terminal, one progress bar per blob being transferred (blobs move in
/// parallel); otherwise one line per blob as it is settled (uploaded, already there, mounted; downloaded, cached) and
/// per retry, so logs of CI jobs say what moved. Called from several threads at once.
/// </summary>
public sealed class TransferProgress : IPushObserver, IPullObserver
{
    private readonly ProgressContext? _context;
    private readonly ConcurrentDictionary<string, ProgressTask> _bars = new();

    private TransferProgress(ProgressContext? context) => _context = context;

    /// <summary>Runs <paramref name="transfer"/> with bars when stderr is a terminal, with plain lines otherwise.</summary>
    public static async Task<T> RunAsync<T>(Func<TransferProgress, Task<T>> transfer)
    {
        if (!ProgressBars.Enabled) return await transfer(new TransferProgress(null));
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        return await console.Progress()
            .AutoClear(true)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new DownloadedColumn(), new TransferSpeedColumn(), new RemainingTimeColumn())
            .StartAsync(ctx => transfer(new TransferProgress(ctx)));
    }

    /// <summary>A model artifact's layer by its file (<c>model/model.safetensors</c>); an image's by kind and digest.</summary>
    private static string Name(Descriptor blob) =>
        blob.Annotations?.GetValueOrDefault(Bento.Images.Artifact.ModelPack.FilepathAnnotation) is { } path
            ? $"{path} {OciDigest.Short(blob.Digest)}"
            : $"{(blob.MediaType.Contains("config", StringComparison.Ordinal) ? "config" : "layer")} {OciDigest.Short(blob.Digest)}";

    private void Line(string text)
    {
        if (_context is null) Console.Error.WriteLine(text);
    }

    public void BlobStarted(Descriptor blob)
    {
        if (_context is not null) _bars[blob.Digest] = _context.AddTask(Markup.Escape(Name(blob)), maxValue: Math.Max(blob.Size, 1));
    }

    public void BlobProgress(Descriptor blob, long bytesSent)
    {
        if (_bars.TryGetValue(blob.Digest, out var bar)) bar.Value = bytesSent;
    }

    void IPushObserver.BlobDone(Descriptor blob) => Done(blob, "uploaded");

    void IPullObserver.BlobDone(Descriptor blob) => Done(blob, "downloaded");

    private void Done(Descriptor blob, string what)
    {
        if (_bars.TryGetValue(blob.Digest, out var bar)) bar.Value = bar.MaxValue;
        Line($"  {Name(blob)} {OutputFormat.Size(blob.Size),10} {what}");
    }

    public void BlobCached(Descriptor blob) => Line($"  {Name(blob)} {OutputFormat.Size(blob.Size),10} in the image cache");

    public void BlobSkipped(Descriptor blob) => Line($"  {Name(blob)} {OutputFormat.Size(blob.Size),10} already there");

    public void BlobMounted(Descriptor blob, string fromRepository) => Line($"  {Name(blob)} {OutputFormat.Size(blob.Size),10} mounted from {fromRepository}");

    public void Retrying(string operation, int attempt, TimeSpan delay, string reason) =>
        Console.Error.WriteLine($"  retrying {operation} in {delay.TotalSeconds:0.#} s (attempt {attempt}): {reason}");

    /// <summary>One line for the whole push: what moved and what it cost.</summary>
    public static string Summary(PushResult result)
    {
        var t = result.Transfer;
        return $"pushed {string.Join(", ", result.References)} ({result.Digest}): {t.BlobsUploaded} blob(s) uploaded, {t.BlobsSkipped} already there, " +
               $"{t.BlobsMounted} mounted; {OutputFormat.Size(t.BytesSent)} sent in {t.Requests} request(s)" +
               (t.Retries > 0 ? $", {t.Retries} retried" : "");
    }
}
