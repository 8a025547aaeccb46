using System.Globalization;

namespace Bento.ModelGen;

/// <summary>
/// Parses sizes such as "1GiB", "512MiB", "300MB" or "1048576".
/// </summary>
public static class ByteSize
{
    // Longest suffixes first so "MiB" is not read as "B".
    private static readonly (string Suffix, long Factor)[] Units =
    [
        ("KiB", 1L << 10), ("MiB", 1L << 20), ("GiB", 1L << 30), ("TiB", 1L << 40),
        ("KB", 1_000L), ("MB", 1_000_000L), ("GB", 1_000_000_000L), ("TB", 1_000_000_000_000L),
        ("K", 1L << 10), ("M", 1L << 20), ("G", 1L << 30), ("T", 1L << 40),
        ("B", 1L),
    ];

    /// <summary>Binary suffixes (KiB, MiB, GiB, TiB, and bare K, M, G, T) are powers of 1024; KB, MB,
    /// GB, TB are powers of 1000; case is ignored. A fraction is allowed ("1.5GiB").</summary>
    public static bool TryParse(string text, out long bytes)
    {
        bytes = 0;
        var trimmed = text.Trim();
        long factor = 1;
        foreach (var (suffix, unitFactor) in Units)
        {
            if (trimmed.EndsWith(suffix, StringComparison.OrdinalIgnoreCase))
            {
                trimmed = trimmed[..^suffix.Length].TrimEnd();
                factor = unitFactor;
                break;
            }
        }
        if (!double.TryParse(trimmed, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var number))
            return false;
        var value = Math.Round(number * factor);
        if (value <= 0 || value > long.MaxValue / 2)
            return false;
        bytes = (long)value;
        return true;
    }
}
