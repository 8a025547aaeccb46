using System.Globalization;

namespace Bento.Runtime.Settings;

/// <summary>
/// One effective engine setting: its value, where the value came from, and for <see cref="SettingSource.Env"/> and
/// <see cref="SettingSource.Cli"/> the exact variable or flag that supplied it, so an operator knows what to change.
/// </summary>
public sealed record Setting<T>(T Value, SettingSource Source, string? Origin = null)
{
    /// <summary>
    /// True for secrets (the API key): <see cref="DisplayValue"/> and <see cref="ToString"/> then say only
    /// "set"/"unset", so logging a setting can never leak it.
    /// </summary>
    public bool IsSecret { get; init; }

    /// <summary>The value as it appears in the start-up line: invariant culture, lower-case booleans, "unset" for null.</summary>
    public string DisplayValue => IsSecret
        ? (Value is null ? "unset" : "set")
        : Value switch
        {
            null => "unset",
            bool b => b ? "true" : "false",
            EagerMode e => e.ToWireName(),
            IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
            var v => v.ToString() ?? "",
        };

    /// <summary>The source as it appears in the start-up line, e.g. <c>bento</c> or <c>env BENTO_PORT</c>.</summary>
    public string DisplaySource => Origin is null ? Source.ToWireName() : $"{Source.ToWireName()} {Origin}";

    /// <summary>Overridden because a record prints every member, and <see cref="Value"/> may be a secret.</summary>
    public override string ToString() => $"{DisplayValue} ({DisplaySource})";
}
