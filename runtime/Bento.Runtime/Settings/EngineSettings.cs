using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Bento.Runtime.Settings;

/// <summary>
/// The effective engine settings of one start, each with where it came from. Produced by
/// <see cref="SettingsResolver"/>; <see cref="Describe"/> is the start-up log line and <see cref="ToHealthJson"/> the
/// /health view. Neither ever contains the API key, only whether one is set.
/// </summary>
public sealed class EngineSettings(IReadOnlyDictionary<SettingName, Setting<object?>> values)
{
    /// <summary>The effective value of <paramref name="name"/> with its source; the value is null when it has none.</summary>
    public Setting<object?> this[SettingName name] =>
        values.TryGetValue(name, out var setting) ? setting : throw new ArgumentException($"{name.Key} was not resolved", nameof(name));

    /// <summary>The effective value of a setting that always has one (a built-in default, or a value given).</summary>
    public Setting<T> Get<T>(SettingName<T> name) where T : notnull
    {
        var s = this[name];
        return new Setting<T>((T)(s.Value ?? throw new InvalidOperationException($"{name.Key} has no value")), s.Source, s.Origin) { IsSecret = s.IsSecret };
    }

    /// <summary>True disables CUDA graphs: slower decoding, but 1-3 GiB of GPU memory back; auto lets the memory
    /// planner decide.</summary>
    public Setting<EagerMode> EnforceEager => Get(SettingName.EnforceEager);
    /// <summary>The variable that overrides <see cref="EnforceEager"/> for this bento (the bento may choose it).</summary>
    public required string EnforceEagerEnv { get; init; }
    /// <summary>False when the bento's builder locked <see cref="EnforceEager"/> (manifest <c>overridable: false</c>).</summary>
    public required bool EnforceEagerOverridable { get; init; }
    /// <summary>Null: take the context length from the model's config.json when loading it.</summary>
    public Setting<int?> MaxModelLen => Optional<int>(SettingName.MaxModelLen);
    public Setting<int> MaxNumSeqs => Get(SettingName.MaxNumSeqs);
    /// <summary>One of auto, float32, float16, bfloat16 (aliases already resolved).</summary>
    public Setting<string> Dtype => Get(SettingName.Dtype);
    public Setting<double> GpuMemoryUtilization => Get(SettingName.GpuMemoryUtilization);
    public Setting<int> Port => Get(SettingName.Port);
    public Setting<string> Host => Get(SettingName.Host);
    /// <summary>Null: requests are not authenticated. Marked secret, so printing the setting says only set/unset.</summary>
    public Setting<string?> ApiKey => new(this[SettingName.ApiKey].Value as string, this[SettingName.ApiKey].Source, this[SettingName.ApiKey].Origin) { IsSecret = true };
    /// <summary>Seconds in-flight requests may run on once the server is asked to stop; then they are cancelled.</summary>
    public Setting<int> ShutdownTimeout => Get(SettingName.ShutdownTimeout);
    /// <summary>The largest request body Kestrel reads (413 above it).</summary>
    public Setting<int> MaxRequestBytes => Get(SettingName.MaxRequestBytes);
    /// <summary>Null: the memory planner sizes the KV cache from what the device has.</summary>
    public Setting<long?> KvCacheMemory => Optional<long>(SettingName.KvCacheMemory);
    /// <summary>One of <see cref="ToolCallParsers.All"/>; auto reads the format from the chat template.</summary>
    public Setting<string> ToolCallParser => Get(SettingName.ToolCallParser);

    /// <summary>
    /// Things the operator should hear about that do not stop start-up, e.g. a variable that is set but not consulted.
    /// The host logs each as a warning next to <see cref="Describe"/>.
    /// </summary>
    public IReadOnlyList<string> Notes { get; init; } = [];

    private Setting<T?> Optional<T>(SettingName<T> name) where T : struct
    {
        var s = this[name];
        return new Setting<T?>((T?)s.Value, s.Source, s.Origin);
    }

    /// <summary>
    /// The one start-up log line with every effective setting and its source, e.g.
    /// <c>settings: enforce_eager=true (env BENTO_ENFORCE_EAGER) max_model_len=512 (bento) ...</c>.
    /// A locked enforce_eager reads <c>(bento, locked)</c> so nobody wonders why their variable had no effect;
    /// a setting without a value reads as the table says (<c>auto</c>: decided at start, <c>unset</c>).
    /// </summary>
    public string Describe()
    {
        var line = new StringBuilder("settings:");
        foreach (var name in SettingName.All.Where(n => n.Listed))
        {
            var setting = this[name];
            var source = name == SettingName.EnforceEager && !EnforceEagerOverridable ? $"{setting.DisplaySource}, locked" : setting.DisplaySource;
            line.Append(' ').Append(name.Key).Append('=').Append(name.Format(setting.Value)).Append(" (").Append(source).Append(')');
        }
        return line.ToString();
    }

    /// <summary>Overridden so that logging the object gives the safe start-up line.</summary>
    public override string ToString() => Describe();

    /// <summary>
    /// The /health view: per setting its value, source and the variable that overrides it (plus the flag when a flag
    /// set it). enforce_eager also says whether it may be overridden; a secret (api_key) says only whether it is set.
    /// </summary>
    public JsonObject ToHealthJson()
    {
        var json = new JsonObject();
        foreach (var name in SettingName.All.Where(n => n.Listed))
        {
            var setting = this[name];
            var entry = name.IsSecret
                ? new JsonObject { ["set"] = setting.Value is not null }
                : new JsonObject { ["value"] = JsonSerializer.SerializeToNode(setting.Value) };
            entry["source"] = setting.Source.ToWireName();
            entry["env"] = name == SettingName.EnforceEager ? EnforceEagerEnv : name.Env;
            if (setting.Source == SettingSource.Cli) entry["flag"] = setting.Origin ?? name.Flag;
            if (name == SettingName.EnforceEager) entry["overridable"] = EnforceEagerOverridable;
            json[name.Key] = entry;
        }
        return json;
    }
}
