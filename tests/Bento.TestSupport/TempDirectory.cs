namespace Bento.TestSupport;

/// <summary>
/// A fresh directory for one test (under the system temp folder unless a parent is given, so never inside the
/// repository), deleted on dispose. Each instance gets a random name, so tests running in parallel never share one.
/// </summary>
public sealed class TempDirectory : IDisposable
{
    public TempDirectory(string prefix = "bento-test-", string? parent = null)
    {
        Path = System.IO.Path.Combine(parent ?? System.IO.Path.GetTempPath(), prefix + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(Path);
        // Traversable by other users whatever the umask: the end-to-end permission test runs the CLI as 'nobody' on
        // files below here.
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

    /// <summary>Writes a text file (creating its directories) and returns its full path.</summary>
    public string Write(string relative, string contents)
    {
        var full = Combine(relative);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(full)!);
        File.WriteAllText(full, contents);
        return full;
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
