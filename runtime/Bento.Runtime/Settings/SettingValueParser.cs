using Bento.Core.Serving;
using System.Globalization;

namespace Bento.Runtime.Settings;

/// <summary>
/// Turns the text of an environment variable or flag into a typed value, or a <see cref="SettingsException"/> that
/// names where the text came from (<c>label</c>), the text itself and what is accepted. Shared by the resolver and the
/// flag parser so the same mistake reads the same whichever way it was made. Callers trim and drop empty text first.
/// </summary>
public static class SettingValueParser
{
    public static bool ParseBool(string label, string text) =>
        BoolSetting.TryParse(text) ?? throw new SettingsException($"{label}='{text}' is not a boolean; {SettingName.EnforceEager.Accepts}");

    /// <summary>enforce_eager's value: a boolean spelling or auto.</summary>
    public static EagerMode ParseEagerMode(string label, string text) =>
        EagerModes.TryParse(text) ?? throw new SettingsException($"{label}='{text}' is not true, false or auto; {SettingName.EnforceEager.Accepts}");

    /// <param name="accepts">What is accepted, e.g. "use a whole number from 1 to 65535".</param>
    public static int ParseInt(string label, string text, string accepts)
    {
        var trimmed = text.Trim();
        if (int.TryParse(trimmed, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value)) return value;
        // Digits that overflow an int are a range mistake, not a typo; say so.
        var digits = trimmed.TrimStart('+', '-');
        var reason = digits.Length > 0 && digits.All(char.IsAsciiDigit) ? "is out of range" : "is not an integer";
        throw new SettingsException($"{label}='{text}' {reason}; {accepts}");
    }

    /// <param name="accepts">What is accepted, e.g. "use a number greater than 0 and at most 1, e.g. 0.9".</param>
    public static double ParseDouble(string label, string text, string accepts)
    {
        // Invariant culture: "0,9" is a typo here whatever the host's locale; NaN and infinities are not settings.
        if (double.TryParse(text.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && double.IsFinite(value))
            return value;
        throw new SettingsException($"{label}='{text}' is not a number; {accepts}");
    }

    /// <summary>Returns the canonical dtype name (lower-case, aliases resolved).</summary>
    public static string ParseDtype(string label, string text) =>
        ModelDtype.CanonicalSetting(text) is { } dtype
            ? dtype
            : throw new SettingsException($"{label}='{text}' is not a dtype; {SettingName.Dtype.Accepts}");

    /// <summary>
    /// Only catches what is certainly wrong (empty, inner whitespace); whether the address can be bound is for Kestrel
    /// to say, with its own error, when it binds.
    /// </summary>
    public static string ParseHost(string label, string text)
    {
        var host = text.Trim();
        if (host.Length == 0 || host.Any(char.IsWhiteSpace))
            throw new SettingsException($"{label}='{text}' is not a host; {SettingName.Host.Accepts}");
        return host;
    }
}
