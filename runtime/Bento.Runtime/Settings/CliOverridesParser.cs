namespace Bento.Runtime.Settings;

/// <summary>
/// Picks the engine-setting flags (every flag of <see cref="SettingName.All"/>) out of the runtime's command line into
/// <see cref="CliOverrides"/> and hands back every other argument, in order, for the host to interpret. Accepts
/// <c>--flag value</c> and <c>--flag=value</c>; a repeated flag keeps its last value, as most command lines do;
/// <c>--</c> ends flag parsing. Values are kept as text and judged by <see cref="SettingsResolver"/>, so a flag, its
/// variable and typed overrides built in code get the same checks and messages.
/// </summary>
public static class CliOverridesParser
{
    private static readonly Dictionary<string, SettingName> ByFlag = SettingName.All.ToDictionary(s => s.Flag, StringComparer.Ordinal);

    public static (CliOverrides Overrides, IReadOnlyList<string> Remaining) Parse(IReadOnlyList<string> args)
    {
        ArgumentNullException.ThrowIfNull(args);
        var overrides = CliOverrides.None;
        var remaining = new List<string>();
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            if (arg == "--")
            {
                remaining.AddRange(args.Skip(i));
                break;
            }
            var equals = arg.IndexOf('=');
            var flag = equals < 0 ? arg : arg[..equals];
            var inline = equals < 0 ? null : arg[(equals + 1)..];

            if (flag == SettingName.NoEnforceEagerFlag)
                overrides = inline is null
                    ? overrides.With(SettingName.EnforceEager, EagerMode.False)
                    : throw new SettingsException($"{flag} takes no value; use {SettingName.EnforceEager.Flag}={inline} instead");
            else if (!ByFlag.TryGetValue(flag, out var setting))
                remaining.Add(arg);
            else if (setting.IsSwitch && inline is null)
                overrides = overrides.WithText(setting, "true");
            else
                overrides = overrides.WithText(setting, inline ?? NextValue(args, ref i, setting));
        }
        return (overrides, remaining);
    }

    /// <summary>
    /// The argument after the flag. Another flag there means the value was forgotten (<c>--port --host x</c>);
    /// taking it as the value would only produce a more confusing error later.
    /// </summary>
    private static string NextValue(IReadOnlyList<string> args, ref int i, SettingName name)
    {
        if (i + 1 >= args.Count || args[i + 1].StartsWith("--", StringComparison.Ordinal))
            throw new SettingsException($"{name.Flag} needs a value, e.g. {name.Flag} {name.Example}");
        return args[++i];
    }
}
