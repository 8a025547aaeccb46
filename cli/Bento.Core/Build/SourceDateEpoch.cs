using System.Globalization;

namespace Bento.Core.Build;

/// <summary>
/// SOURCE_DATE_EPOCH (reproducible-builds.org): the one reader of the variable, for the bento's creation time and
/// the image's timestamps alike, so both accept and refuse the same values.
/// </summary>
public static class SourceDateEpoch
{
    public const string Variable = "SOURCE_DATE_EPOCH";

    /// <summary>The last second that fits four-digit years (9999-12-31T23:59:59Z), as OCI's RFC 3339 dates need.</summary>
    private const long MaxSeconds = 253402300799;

    /// <summary>The time the variable sets, in whole seconds (UTC); null when it is unset or empty.</summary>
    public static DateTimeOffset? Read() => Parse(Environment.GetEnvironmentVariable(Variable));

    /// <summary>The time <paramref name="epoch"/> (the variable's text) sets; null when it is null or empty.</summary>
    public static DateTimeOffset? Parse(string? epoch)
    {
        if (string.IsNullOrEmpty(epoch)) return null;
        if (!long.TryParse(epoch, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds) || seconds > MaxSeconds)
            throw new BentoException($"{Variable}='{epoch}' is not a whole number of seconds since 1970-01-01 (at most {MaxSeconds}); unset it or fix it");
        return DateTimeOffset.FromUnixTimeSeconds(seconds);
    }
}
