namespace Bento.Runtime.Server;

/// <summary>
/// TorchSharp 0.107 (LibTorch 2.10) needs libstdc++ from GCC 13 or newer. Loading it on an older system fails deep
/// inside a type initializer with an obscure message, so the runtime checks first and says what to do.
/// </summary>
public static class NativeRequirements
{
    public const string RequiredSymbol = "GLIBCXX_3.4.32";

    private static readonly string[] Candidates =
    [
        "/usr/lib/x86_64-linux-gnu/libstdc++.so.6", "/usr/lib/aarch64-linux-gnu/libstdc++.so.6",
        "/usr/lib64/libstdc++.so.6", "/usr/lib/libstdc++.so.6", "/lib/x86_64-linux-gnu/libstdc++.so.6",
    ];

    /// <summary>Null when TorchSharp can load here; otherwise the message to print.</summary>
    public static string? Problem()
    {
        if (!OperatingSystem.IsLinux()) return null;
        var library = Candidates.FirstOrDefault(File.Exists);
        if (library is null)
            return "libstdc++.so.6 was not found; TorchSharp needs libstdc++ from GCC 13 or newer (install libstdc++6 from Debian 13 / Ubuntu 24.04)";
        if (Contains(library, RequiredSymbol)) return null;
        return $"this system's libstdc++ ({library}) predates GCC 13 (it lacks {RequiredSymbol}), which TorchSharp 0.107 / LibTorch 2.10 needs. " +
               "Run the runtime on Debian 13, Ubuntu 24.04 or newer (glibc 2.38+, libstdc++ from GCC 13+), in the bento's container image, " +
               "or on this host through the bundled Debian 13 rootfs: scripts/trixie run ./bento serve TAG";
    }

    private static bool Contains(string path, string symbol)
    {
        var needle = System.Text.Encoding.ASCII.GetBytes(symbol);
        var data = File.ReadAllBytes(path);
        return data.AsSpan().IndexOf(needle) >= 0;
    }
}
