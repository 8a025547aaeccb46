namespace Bento.EndToEnd.Tests.Infrastructure;

/// <summary>A fresh directory under the system temp folder (never inside the repository), deleted on dispose.</summary>
public sealed class TempDirectory : IDisposable
{
    public TempDirectory(string prefix = "bento-e2e-")
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), prefix + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(Path);
        // Traversable by other users: the permission test runs the CLI as 'nobody' on files below here.
        File.SetUnixFileMode(Path, (UnixFileMode)0b111_101_101);
    }

    public string Path { get; }

    public string Combine(params string[] parts) => System.IO.Path.Combine([Path, .. parts]);

    /// <summary>Creates (if needed) and returns a sub directory.</summary>
    public string CreateDirectory(params string[] parts)
    {
        var dir = Combine(parts);
        Directory.CreateDirectory(dir);
        return dir;
    }

    public void Dispose()
    {
        try
        {
            if (Directory.Exists(Path)) Directory.Delete(Path, recursive: true);
        }
        catch (IOException) { } // e.g. a mount a failed test could not take down; leave it rather than mask the failure
        catch (UnauthorizedAccessException) { }
    }
}
