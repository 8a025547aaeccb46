using System.Text;
using System.Text.Json.Nodes;

namespace Bento.Runtime.Settings;

/// <summary>
/// The effective engine settings of one start, each with where it came from. Produced by
/// <see cref="SettingsResolver"/>; <see cref="Describe"/> is the start-up log line and <see cref="ToHealthJson"/> the
/// /health view. Neither ever contains the API key, only whether one is set.
/// </summary>
public sealed class EngineSettings
{
    /// <summary>True disables CUDA graphs: slower decoding, but 1-3 GiB of GPU memory back.</summary>
    public required Setting<bool> EnforceEager { get; init; }
    /// <summary>The variable that overrides <see cref="EnforceEager"/> for this bento (the bento may choose it).</summary>
    public required string EnforceEagerEnv { get; init; }
    /// <summary>False when the bento's builder locked <see cref="EnforceEager"/> (manifest <c>overridable: false</c>).</summary>
    public required bool EnforceEagerOverridable { get; init; }
    /// <summary>Null: take the context length from the model's config.json when loading it.</summary>
    public required Setting<int?> MaxModelLen { get; init; }
    public required Setting<int> MaxNumSeqs { get; init; }
    /// <summary>One of auto, float32, float16, bfloat16 (aliases already resolved).</summary>
    public required Setting<string> Dtype { get; init; }
    public required Setting<double> GpuMemoryUtilization { get; init; }
    public required Setting<int> Port { get; init; }
    public required Setting<string> Host { get; init; }
    /// <summary>Null: requests are not authenticated. Marked secret, so printing the setting says only set/unset.</summary>
    public required Setting<string?> ApiKey { get; init; }
    /// <summary>Seconds in-flight requests may run on once the server is asked to stop; then they are cancelled.</summary>
    public required Setting<int> ShutdownTimeout { get; init; }
    /// <summary>The largest request body Kestrel reads (413 above it).</summary>
    public required Setting<int> MaxRequestBytes { get; init; }
    /// <summary>Null: the memory planner sizes the KV cache from what the device has.</summary>
    public required Setting<long?> KvCacheMemory { get; init; }
    /// <summary>One of <see cref="ToolCallParsers.All"/>; auto picks the format from the chat template.</summary>
    public required Setting<string> ToolCallParser { get; init; }
    /// <summary>
    /// Things the operator should hear about that do not stop start-up, e.g. a variable that is set but not consulted.
    /// The host logs each as a warning next to <see cref="Describe"/>.
    /// </summary>
    public IReadOnlyList<string> Notes { get; init; } = [];

    /// <summary>
    /// The one start-up log line with every effective setting and its source, e.g.
    /// <c>settings: enforce_eager=true (env BENTO_ENFORCE_EAGER) max_model_len=512 (bento) ...</c>.
    /// A locked enforce_eager reads <c>(bento, locked)</c> so nobody wonders why their variable had no effect;
    /// max_model_len without a value reads <c>auto</c> (from the model's config).
    /// </summary>
    public string Describe()
    {
        var line = new StringBuilder("settings:");
        Append(line, SettingName.EnforceEager, EnforceEager.DisplayValue,
            EnforceEagerOverridable ? EnforceEager.DisplaySource : $"{EnforceEager.DisplaySource}, locked");
        Append(line, SettingName.MaxModelLen, MaxModelLen.Value is null ? "auto" : MaxModelLen.DisplayValue, MaxModelLen.DisplaySource);
        Append(line, SettingName.MaxNumSeqs, MaxNumSeqs);
        Append(line, SettingName.Dtype, Dtype);
        Append(line, SettingName.GpuMemoryUtilization, GpuMemoryUtilization);
        Append(line, SettingName.Host, Host);
        Append(line, SettingName.Port, Port);
        Append(line, SettingName.ApiKey, ApiKey);
        Append(line, SettingName.ShutdownTimeout, ShutdownTimeout);
        Append(line, SettingName.MaxRequestBytes, MaxRequestBytes);
        Append(line, SettingName.KvCacheMemory, KvCacheMemory.Value is { } kv ? ByteSize.Format(kv) : "auto", KvCacheMemory.DisplaySource);
        Append(line, SettingName.ToolCallParser, ToolCallParser);
        return line.ToString();
    }

    /// <summary>Overridden so that logging the object gives the safe start-up line.</summary>
    public override string ToString() => Describe();

    /// <summary>
    /// The /health view: per setting its value, source and the variable that overrides it (plus the flag when a flag
    /// set it). enforce_eager also says whether it may be overridden; api_key says only whether it is set.
    /// </summary>
    public JsonObject ToHealthJson()
    {
        var enforceEager = Entry(SettingName.EnforceEager, EnforceEager, EnforceEager.Value, EnforceEagerEnv);
        enforceEager["overridable"] = EnforceEagerOverridable;
        var apiKey = new JsonObject { ["set"] = ApiKey.Value is not null };
        AddSource(apiKey, SettingName.ApiKey, ApiKey, SettingName.ApiKey.Env);
        return new JsonObject
        {
            [SettingName.EnforceEager.Key] = enforceEager,
            [SettingName.MaxModelLen.Key] = Entry(SettingName.MaxModelLen, MaxModelLen, MaxModelLen.Value),
            [SettingName.MaxNumSeqs.Key] = Entry(SettingName.MaxNumSeqs, MaxNumSeqs, MaxNumSeqs.Value),
            [SettingName.Dtype.Key] = Entry(SettingName.Dtype, Dtype, Dtype.Value),
            [SettingName.GpuMemoryUtilization.Key] = Entry(SettingName.GpuMemoryUtilization, GpuMemoryUtilization, GpuMemoryUtilization.Value),
            [SettingName.Host.Key] = Entry(SettingName.Host, Host, Host.Value),
            [SettingName.Port.Key] = Entry(SettingName.Port, Port, Port.Value),
            [SettingName.ApiKey.Key] = apiKey,
            [SettingName.ShutdownTimeout.Key] = Entry(SettingName.ShutdownTimeout, ShutdownTimeout, ShutdownTimeout.Value),
            [SettingName.MaxRequestBytes.Key] = Entry(SettingName.MaxRequestBytes, MaxRequestBytes, MaxRequestBytes.Value),
            [SettingName.KvCacheMemory.Key] = Entry(SettingName.KvCacheMemory, KvCacheMemory, KvCacheMemory.Value),
            [SettingName.ToolCallParser.Key] = Entry(SettingName.ToolCallParser, ToolCallParser, ToolCallParser.Value),
        };
    }

    private static void Append<T>(StringBuilder line, SettingName name, Setting<T> setting) =>
        Append(line, name, setting.DisplayValue, setting.DisplaySource);

    private static void Append(StringBuilder line, SettingName name, string value, string source) =>
        line.Append(' ').Append(name.Key).Append('=').Append(value).Append(" (").Append(source).Append(')');

    private static JsonObject Entry<T>(SettingName name, Setting<T> setting, JsonNode? value, string? env = null)
    {
        var entry = new JsonObject { ["value"] = value };
        AddSource(entry, name, setting, env ?? name.Env);
        return entry;
    }

    private static void AddSource<T>(JsonObject entry, SettingName name, Setting<T> setting, string env)
    {
        entry["source"] = setting.Source.ToWireName();
        entry["env"] = env;
        if (setting.Source == SettingSource.Cli) entry["flag"] = setting.Origin ?? name.Flag;
    }
}
