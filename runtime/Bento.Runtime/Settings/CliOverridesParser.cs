namespace Bento.Runtime.Settings;

/// <summary>
/// Picks the engine-setting flags out of the runtime's command line into <see cref="CliOverrides"/> and hands back
/// every other argument, in order, for the host to interpret. Accepts <c>--flag value</c> and <c>--flag=value</c>;
/// a repeated flag keeps its last value, as most command lines do; <c>--</c> ends flag parsing. Ranges are left to
/// <see cref="SettingsResolver"/> so typed overrides built in code get the same checks.
/// </summary>
public static class CliOverridesParser
{
    /// <summary>Flags that take a value, and how each value lands in the overrides.</summary>
    private static readonly Dictionary<string, (SettingName Name, Func<CliOverrides, string, CliOverrides> Apply)> ValueFlags =
        new List<(SettingName Name, Func<CliOverrides, string, CliOverrides> Apply)>
        {
            (SettingName.MaxModelLen, (o, v) => o with { MaxModelLen = ParseInt(SettingName.MaxModelLen, v) }),
            (SettingName.MaxNumSeqs, (o, v) => o with { MaxNumSeqs = ParseInt(SettingName.MaxNumSeqs, v) }),
            (SettingName.Dtype, (o, v) => o with { Dtype = v }),
            (SettingName.GpuMemoryUtilization, (o, v) => o with
            {
                GpuMemoryUtilization = SettingValueParser.ParseDouble(SettingName.GpuMemoryUtilization.Flag, v, SettingName.GpuMemoryUtilization.Accepts),
            }),
            (SettingName.Port, (o, v) => o with { Port = ParseInt(SettingName.Port, v) }),
            (SettingName.Host, (o, v) => o with { Host = v }),
            (SettingName.ApiKey, (o, v) => o with { ApiKey = v }),
            (SettingName.ApiKeyFile, (o, v) => o with { ApiKeyFile = v }),
            (SettingName.ShutdownTimeout, (o, v) => o with { ShutdownTimeout = ParseInt(SettingName.ShutdownTimeout, v) }),
            (SettingName.MaxRequestBytes, (o, v) => o with { MaxRequestBytes = ParseInt(SettingName.MaxRequestBytes, v) }),
            (SettingName.KvCacheMemory, (o, v) => o with { KvCacheMemory = v }),
            (SettingName.ToolCallParser, (o, v) => o with { ToolCallParser = v }),
        }.ToDictionary(f => f.Name.Flag, StringComparer.Ordinal);

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

            if (flag == SettingName.EnforceEager.Flag)
                overrides = overrides with { EnforceEager = inline is null || SettingValueParser.ParseBool(flag, inline) };
            else if (flag == SettingName.NoEnforceEagerFlag)
                overrides = inline is null
                    ? overrides with { EnforceEager = false }
                    : throw new SettingsException($"{flag} takes no value; use {SettingName.EnforceEager.Flag}={inline} instead");
            else if (ValueFlags.TryGetValue(flag, out var valueFlag))
                overrides = valueFlag.Apply(overrides, inline ?? NextValue(args, ref i, valueFlag.Name));
            else
                remaining.Add(arg);
        }
        return (overrides, remaining);
    }

    private static int ParseInt(SettingName name, string value) => SettingValueParser.ParseInt(name.Flag, value, name.Accepts);

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
