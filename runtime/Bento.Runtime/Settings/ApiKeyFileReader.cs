using Bento.Core.IO;

namespace Bento.Runtime.Settings;

/// <summary>
/// Reads an API key from a file, as mounted Kubernetes and Docker secrets provide it. Only a small regular file is
/// read (a path to /dev/zero or a FIFO must not hang or fill memory); surrounding whitespace, such as the trailing
/// newline editors and <c>echo</c> add, is dropped. Errors name the flag or variable and the path, never the content.
/// </summary>
public static class ApiKeyFileReader
{
    /// <summary>Far above any real key; a bigger file is not a key file.</summary>
    public const int MaxBytes = 4096;

    public static string Read(string label, string path)
    {
        switch (Posix.KindOf(path))
        {
            case null: throw new SettingsException($"{label}='{path}': no such file; give the path of a file that holds the API key");
            case FileKind.Directory or FileKind.Special: throw new SettingsException($"{label}='{path}' is not a regular file; give the path of a file that holds the API key");
        }
        string key;
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.None);
            if (stream.Length > MaxBytes)
                throw new SettingsException($"{label}='{path}' is {stream.Length} bytes; an API key file holds at most {MaxBytes}");
            key = new StreamReader(stream).ReadToEnd().Trim();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SettingsException($"{label}='{path}' cannot be read: {e.Message}");
        }
        if (key.Length == 0)
            throw new SettingsException($"{label}='{path}' is empty; put the API key in it, or leave {label} out to serve without a key");
        if (key.Any(c => char.IsWhiteSpace(c) || char.IsControl(c)))
            throw new SettingsException($"{label}='{path}' holds more than the key (whitespace inside it); the file must hold only the key");
        return key;
    }
}
