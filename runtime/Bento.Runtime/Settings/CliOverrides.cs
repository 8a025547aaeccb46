namespace Bento.Runtime.Settings;

/// <summary>
/// The engine settings given on the command line; null means the flag was not given. Highest precedence: a flag
/// beats the environment, the bento and the built-in default. Build it with <see cref="CliOverridesParser"/> or
/// directly (tests, hosts that parse their own arguments); <see cref="SettingsResolver"/> checks ranges either way.
/// </summary>
public sealed record CliOverrides(
    bool? EnforceEager = null,
    int? MaxModelLen = null,
    int? MaxNumSeqs = null,
    string? Dtype = null,
    double? GpuMemoryUtilization = null,
    int? Port = null,
    string? Host = null,
    string? ApiKey = null,
    string? ApiKeyFile = null,
    int? ShutdownTimeout = null,
    int? MaxRequestBytes = null,
    string? KvCacheMemory = null,
    string? ToolCallParser = null)
{
    public static readonly CliOverrides None = new();

    /// <summary>Overridden because a record prints every member, and <see cref="ApiKey"/> is a secret.</summary>
    public override string ToString() =>
        $"CliOverrides {{ EnforceEager = {EnforceEager}, MaxModelLen = {MaxModelLen}, MaxNumSeqs = {MaxNumSeqs}, " +
        $"Dtype = {Dtype}, GpuMemoryUtilization = {GpuMemoryUtilization}, Port = {Port}, Host = {Host}, " +
        $"ApiKey = {(ApiKey is null ? "unset" : "set")}, ApiKeyFile = {ApiKeyFile}, ShutdownTimeout = {ShutdownTimeout}, MaxRequestBytes = {MaxRequestBytes}, KvCacheMemory = {KvCacheMemory}, ToolCallParser = {ToolCallParser} }}";
}
