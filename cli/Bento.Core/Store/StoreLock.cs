namespace Bento.Core.Store;

/// <summary>
/// Exclusive lock on the store for the short commit phase of build, import and delete. .NET takes an flock on a file
/// opened with FileShare.None, so a crashed holder releases it automatically.
/// </summary>
public sealed class StoreLock : IDisposable
{
    private const int EAgain = 11;
    private readonly FileStream _stream;

    private StoreLock(FileStream stream) => _stream = stream;

    public static async Task<StoreLock> AcquireAsync(string path, Action<string>? onWait = null, TimeSpan? timeout = null, CancellationToken ct = default)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromMinutes(10));
        var told = false;
        var started = DateTime.UtcNow;
        while (true)
        {
            try
            {
                var stream = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
                stream.SetLength(0);
                var pid = System.Text.Encoding.ASCII.GetBytes(Environment.ProcessId + "\n");
                stream.Write(pid);
                stream.Flush();
                return new StoreLock(stream);
            }
            // EAGAIN (11) is the flock conflict; anything else (read-only file system, permissions) is a real error.
            catch (IOException e) when (e.HResult == EAgain && DateTime.UtcNow < deadline && !ct.IsCancellationRequested)
            {
                if (!told && DateTime.UtcNow - started > TimeSpan.FromSeconds(1))
                {
                    onWait?.Invoke($"waiting for another bento process to release the store lock ({path})");
                    told = true;
                }
                await Task.Delay(50, ct);
            }
            catch (IOException e) when (e.HResult == EAgain)
            {
                ct.ThrowIfCancellationRequested();
                throw new BentoException($"timed out waiting for the store lock {path}: {e.Message}");
            }
        }
    }

    public void Dispose() => _stream.Dispose();
}
