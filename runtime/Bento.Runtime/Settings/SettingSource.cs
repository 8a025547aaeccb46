using System.Text.Json.Serialization;

namespace Bento.Runtime.Settings;

/// <summary>
/// Where an effective engine setting came from, lowest precedence first: a later source beats an earlier one.
/// Serialised lower-case (default|bento|env|cli) because operators read it in logs and /health.
/// </summary>
[JsonConverter(typeof(JsonStringEnumConverter<SettingSource>))]
public enum SettingSource
{
    /// <summary>The runtime's built-in default (<see cref="EngineDefaults"/>).</summary>
    [JsonStringEnumMemberName("default")] Default,
    /// <summary>The bento's manifest, i.e. what its builder chose.</summary>
    [JsonStringEnumMemberName("bento")] Bento,
    /// <summary>An environment variable of the deployment.</summary>
    [JsonStringEnumMemberName("env")] Env,
    /// <summary>A command-line flag of this start.</summary>
    [JsonStringEnumMemberName("cli")] Cli,
}

public static class SettingSourceNames
{
    /// <summary>The lower-case name used in the start-up line and /health.</summary>
    public static string ToWireName(this SettingSource source) => source switch
    {
        SettingSource.Default => "default",
        SettingSource.Bento => "bento",
        SettingSource.Env => "env",
        SettingSource.Cli => "cli",
        _ => throw new ArgumentOutOfRangeException(nameof(source), source, null),
    };
}
