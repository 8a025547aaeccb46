using System.Globalization;
using System.Text.RegularExpressions;

namespace Bento.Core.Serving;

/// <summary>
/// Memory sizes as operators write them: <c>24GiB</c>, <c>512MiB</c>, <c>80GB</c>, <c>1.5G</c> or plain bytes. Binary
/// units (KiB, MiB, GiB, TiB, and K/M/G/T as Kubernetes' Ki/Mi/Gi/Ti) are powers of 1024; KB, MB, GB, TB are powers of
/// 1000, as disk and GPU vendors print them.
/// </summary>
public static partial class ByteSize
{
    [GeneratedRegex(@"^\s*(?<n>\d+(\.\d+)?)\s*(?<unit>[KMGT]i?B?|[KMGT]B|B)?\s*$", RegexOptions.IgnoreCase)]
    private static partial Regex Pattern();

    public static bool TryParse(string text, out long bytes)
    {
        bytes = 0;
        var m = Pattern().Match(text);
        if (!m.Success) return false;
        var n = double.Parse(m.Groups["n"].Value, CultureInfo.InvariantCulture);
        var unit = m.Groups["unit"].Success ? m.Groups["unit"].Value.ToUpperInvariant() : "B";
        double scale = unit switch
        {
            "B" => 1,
            "KB" => 1e3, "MB" => 1e6, "GB" => 1e9, "TB" => 1e12,
            _ => Math.Pow(1024, "KMGT".IndexOf(unit[0]) + 1),
        };
        var value = n * scale;
        if (value > long.MaxValue / 2) return false;
        bytes = (long)value;
        return true;
    }

    /// <summary>Binary units with <paramref name="decimals"/> decimals: <c>1.50 GiB</c>, <c>12.00 MiB</c>, <c>512 B</c>.</summary>
    public static string Format(long bytes, int decimals = 2)
    {
        string[] units = ["KiB", "MiB", "GiB", "TiB"];
        if (Math.Abs(bytes) < 1024) return $"{bytes} B";
        double value = bytes;
        var i = -1;
        while (Math.Abs(value) >= 1024 && i < units.Length - 1) { value /= 1024; i++; }
        return value.ToString("0." + new string('0', decimals), CultureInfo.InvariantCulture) + " " + units[i];
    }
}
