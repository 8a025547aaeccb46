using System.Collections.Immutable;

namespace Bento.Runtime.Settings;

/// <summary>
/// The engine settings given on the command line, by setting (<see cref="SettingName"/>); a setting absent here was
/// not given. Highest precedence: a flag beats the environment, the bento and the built-in default. A value is either
/// typed (built in code: tests, hosts that parse their own arguments) or the flag's text, which
/// <see cref="SettingsResolver"/> parses with the setting's rule; ranges are checked there either way.
/// </summary>
public sealed class CliOverrides
{
    private readonly ImmutableDictionary<SettingName, object> _values;

    private CliOverrides(ImmutableDictionary<SettingName, object> values) => _values = values;

    public static readonly CliOverrides None = new(ImmutableDictionary<SettingName, object>.Empty);

    /// <summary>These overrides plus <paramref name="setting"/> = <paramref name="value"/> (replacing an earlier one).</summary>
    public CliOverrides With<T>(SettingName<T> setting, T value) where T : notnull => new(_values.SetItem(setting, value));

    /// <summary>These overrides plus the text of <paramref name="setting"/>'s flag, parsed when settings resolve.</summary>
    public CliOverrides WithText(SettingName setting, string text) => new(_values.SetItem(setting, text));

    /// <summary>The typed value or flag text given for <paramref name="setting"/>; null when the flag was not given.</summary>
    public object? this[SettingName setting] => _values.GetValueOrDefault(setting);

    /// <summary>Overridden so that printing overrides never shows a secret (the API key).</summary>
    public override string ToString() =>
        "CliOverrides { " + string.Join(", ", SettingName.All.Where(_values.ContainsKey)
            .Select(s => $"{s.Key} = {(s.IsSecret ? "set" : _values[s])}")) + " }";
}
