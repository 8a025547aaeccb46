using Bento.Core.Manifest;

namespace Bento.Core.Serving;

/// <summary>
/// One engine/serving setting as the whole product knows it: its key (logs, /health, bentofile <c>runtime.KEY</c>,
/// manifest), the environment variable and flag that override it, what values it takes (<see cref="SettingKind{T}"/>),
/// its default, whether a bentofile may set it, and its help line. <see cref="All"/> is the one table of them: the
/// bentofile parser, the builder's manifest, the runtime's flag parser and resolver, <c>bento serve</c>'s options and
/// help, <c>bento deploy</c>'s <c>--env</c> checks, the image config and the README's settings table
/// (<see cref="SettingsTable"/>) all read it, so adding a setting is one entry here (plus, for a setting the bentofile
/// sets, its manifest field). It lives in Bento.Core because the CLI must not load the runtime (which carries
/// LibTorch).
/// </summary>
public abstract record SettingName(string Key, string Env, string Flag, string Example, string Help)
{
    /// <summary>A flag that may stand alone (<c>--enforce-eager</c>) or take a value (<c>--enforce-eager=false</c>).</summary>
    public bool IsSwitch { get; init; }

    /// <summary>Never printed: logs and /health say only whether it is set.</summary>
    public bool IsSecret { get; init; }

    /// <summary>The bentofile's <c>runtime.KEY</c> sets it and the manifest records it (the bento's default).</summary>
    public bool InBentofile => ManifestBinding is not null;

    /// <summary>False for a setting folded into another one's line in logs and /health (the API key file).</summary>
    public bool Listed { get; init; } = true;

    /// <summary>The default in words, for the README's table and help (e.g. "the model's max_position_embeddings").</summary>
    public required string DefaultText { get; init; }

    /// <summary>How an unset value reads in logs (no built-in default: "auto" = decided at start, or "unset").</summary>
    public string UnsetText { get; init; } = "unset";

    /// <summary>What is accepted, ending an error message.</summary>
    public abstract string Accepts { get; }

    /// <summary>The type as the README's settings table shows it.</summary>
    public abstract string TypeName { get; }

    /// <summary>How error messages name the manifest field, e.g. <c>bento.yaml runtime.port</c>.</summary>
    public string ManifestField => $"bento.yaml runtime.{Key}";

    /// <summary>The built-in value, boxed; null when there is none (decided at start-up, or off).</summary>
    public abstract object? DefaultValue { get; }

    /// <summary>Where the manifest keeps the bento's value (null: the bentofile cannot set it).</summary>
    public abstract object? ManifestBinding { get; }

    /// <summary>The value <paramref name="text"/> spells, boxed; a <see cref="SettingsException"/> naming <paramref name="label"/> otherwise.</summary>
    public abstract object ParseBoxed(string label, string text);

    /// <summary>The value <paramref name="text"/> spells, boxed, or false with why not ("is out of range").</summary>
    public abstract bool TryParseBoxed(string text, out object value, out string reason);

    /// <summary>Whether the value is text (a quoted YAML scalar is fine); false for numbers and booleans.</summary>
    public abstract bool TakesText { get; }

    /// <summary>Refuses a typed value out of range, naming <paramref name="label"/> (a flag, a manifest field).</summary>
    public abstract void CheckBoxed(string label, object value);

    /// <summary>Whether a typed value lies in range.</summary>
    public abstract bool AllowsBoxed(object value);

    /// <summary>The bento's value, boxed, or null when its manifest does not say (or the bentofile cannot set it).</summary>
    public abstract object? ReadManifestBoxed(ManifestRuntime runtime);

    /// <summary>Records the bento's value in its manifest.</summary>
    public abstract void WriteManifestBoxed(ManifestRuntime runtime, object value);

    /// <summary>The value as logs and messages print it ("auto"/"unset" for null, "set" for a secret).</summary>
    public abstract string Format(object? value);

    public const string NoEnforceEagerFlag = "--no-enforce-eager";

    /// <summary>
    /// The environment variable is the bento's choice (manifest <c>runtime.enforce_eager.env</c>); this is the name
    /// used when the bento chose none. <see cref="NoEnforceEagerFlag"/> is the negative flag.
    /// </summary>
    public static readonly SettingName<EagerMode> EnforceEager = new("enforce_eager", "BENTO_ENFORCE_EAGER", "--enforce-eager", new EagerModeKind(),
        "true", "Disable CUDA graphs (true), use them (false), or auto: only if their memory pool fits once the KV cache has its minimum (overrides the bento and its variable unless the builder locked it)")
    {
        IsSwitch = true,
        Default = EngineDefaults.EnforceEager,
        DefaultText = "false",
        Manifest = new(r => r.EnforceEager.Value, (r, v) => r.EnforceEager.Value = v),
    };

    public static readonly SettingName<int> MaxModelLen = new("max_model_len", "BENTO_MAX_MODEL_LEN", "--max-model-len", new IntKind(1, Model.ModelContract.MaxContextLength),
        "4096", "Context length in tokens")
    {
        DefaultText = "the model's max_position_embeddings",
        UnsetText = "auto",
        Manifest = new(r => r.MaxModelLen == 0 ? null : r.MaxModelLen, (r, v) => r.MaxModelLen = v),
    };

    public static readonly SettingName<int> MaxNumSeqs = new("max_num_seqs", "BENTO_MAX_NUM_SEQS", "--max-num-seqs", new IntKind(1, 65_536),
        "16", "Sequences decoded together")
    {
        Default = EngineDefaults.MaxNumSeqs,
        DefaultText = EngineDefaults.MaxNumSeqs.ToString(System.Globalization.CultureInfo.InvariantCulture),
        Manifest = new(r => r.MaxNumSeqs == 0 ? null : r.MaxNumSeqs, (r, v) => r.MaxNumSeqs = v),
    };

    public static readonly SettingName<string> Dtype = new("dtype", "BENTO_DTYPE", "--dtype", new DtypeKind(),
        "bfloat16", "Dtype of the float weights (auto: as stored; int8 weights stay int8; CPU activations are float32)")
    {
        Default = EngineDefaults.Dtype,
        DefaultText = EngineDefaults.Dtype,
        Manifest = new(r => string.IsNullOrWhiteSpace(r.Dtype) ? null : r.Dtype, (r, v) => r.Dtype = v),
    };

    public static readonly SettingName<double> GpuMemoryUtilization = new("gpu_memory_utilization", "BENTO_GPU_MEMORY_UTILIZATION", "--gpu-memory-utilization",
        new FractionKind(0, 1, "0.9"), "0.9", "Fraction of GPU memory the engine may use")
    {
        Default = EngineDefaults.GpuMemoryUtilization,
        DefaultText = "0.9",
        Manifest = new(r => r.GpuMemoryUtilization, (r, v) => r.GpuMemoryUtilization = v),
    };

    public static readonly SettingName<string> Host = new("host", "BENTO_HOST", "--host", new HostKind(),
        "0.0.0.0", "Address to listen on (default 0.0.0.0: all interfaces)")
    {
        Default = EngineDefaults.Host,
        DefaultText = EngineDefaults.Host,
    };

    public static readonly SettingName<int> Port = new("port", "BENTO_PORT", "--port", new IntKind(1, 65_535),
        "3000", "Port to listen on (default: the bento's, else 3000)")
    {
        Default = EngineDefaults.Port,
        DefaultText = "3000",
        Manifest = new(r => r.Port, (r, v) => r.Port = v),
    };

    public static readonly SettingName<string> ApiKey = new("api_key", "BENTO_API_KEY", "--api-key", new TextKind("give the key", "text"),
        "<key>", "Require 'Authorization: Bearer KEY' on /v1 (visible in ps: prefer --api-key-file or the variable)")
    {
        IsSecret = true,
        DefaultText = "none (no authentication)",
    };

    /// <summary>The API key read from a file (a mounted Kubernetes or Docker secret); one trailing newline is dropped.</summary>
    public static readonly SettingName<string> ApiKeyFile = new("api_key_file", "BENTO_API_KEY_FILE", "--api-key-file",
        new TextKind("give the path of a file that holds the key", "path"), "/run/secrets/api-key", "Read the API key from this file")
    {
        Listed = false,
        DefaultText = "none",
    };

    /// <summary>Seconds a stopping server gives in-flight requests before it cancels them.</summary>
    public static readonly SettingName<int> ShutdownTimeout = new("shutdown_timeout", "BENTO_SHUTDOWN_TIMEOUT", "--shutdown-timeout",
        new IntKind(0, 3600, "seconds"), "25", "Seconds in-flight requests may run on after SIGTERM/SIGINT")
    {
        Default = EngineDefaults.ShutdownTimeout,
        DefaultText = "25",
    };

    /// <summary>The largest request body the server reads; a bigger one is answered 413 before it is parsed.</summary>
    public static readonly SettingName<int> MaxRequestBytes = new("max_request_bytes", "BENTO_MAX_REQUEST_BYTES", "--max-request-bytes",
        new IntKind(1024, 1 << 30, "bytes"), "8388608", "Largest request body accepted, in bytes (413 above it)")
    {
        Default = EngineDefaults.MaxRequestBytes,
        DefaultText = "8388608 (8 MiB)",
    };

    /// <summary>An explicit KV cache size (e.g. 4GiB); unset: from gpu_memory_utilization on a GPU, half of what is available on a CPU.</summary>
    public static readonly SettingName<long> KvCacheMemory = new("kv_cache_memory", "BENTO_KV_CACHE_MEMORY", "--kv-cache-memory", new SizeKind(),
        "4GiB", "KV cache size (default: from gpu_memory_utilization, or half the free RAM on a CPU)")
    {
        DefaultText = "from gpu_memory_utilization on a GPU, half the available RAM on a CPU",
        UnsetText = "auto",
    };

    /// <summary>Which format tool calls take in the model's output (vLLM's --tool-call-parser); auto: the one the chat template shows.</summary>
    public static readonly SettingName<string> ToolCallParser = new("tool_call_parser", "BENTO_TOOL_CALL_PARSER", "--tool-call-parser",
        new ChoiceKind(ToolCallParsers.All, "a tool-call parser"), "hermes", "Tool-call format of the model's output, for tool_choice auto")
    {
        Default = ToolCallParsers.Auto,
        DefaultText = "auto (the format the chat template shows)",
        Manifest = new(r => string.IsNullOrWhiteSpace(r.ToolCallParser) ? null : r.ToolCallParser, (r, v) => r.ToolCallParser = v),
    };

    /// <summary>Every setting, in the order help, logs and /health list them.</summary>
    public static readonly IReadOnlyList<SettingName> All =
        [EnforceEager, MaxModelLen, MaxNumSeqs, Dtype, GpuMemoryUtilization, Host, Port, ApiKey, ApiKeyFile, ShutdownTimeout, MaxRequestBytes, KvCacheMemory, ToolCallParser];

    /// <summary>The settings a bentofile's <c>runtime:</c> section may set, in table order.</summary>
    public static IEnumerable<SettingName> Bentofile => All.Where(s => s.InBentofile);

    /// <summary>The setting a variable overrides, if any (enforce_eager by its default variable).</summary>
    public static SettingName? ByEnv(string env) => All.FirstOrDefault(s => s.Env == env);
}

/// <summary>Where the manifest keeps a setting: read (null when the manifest does not say) and write.</summary>
/// <remarks>Read returns the value boxed, or null for the manifest's "not said" (0 or blank in fields the builder fills).</remarks>
public sealed record ManifestBinding<T>(Func<ManifestRuntime, object?> Read, Action<ManifestRuntime, T> Write) where T : notnull;

/// <summary>A setting whose values are <typeparamref name="T"/>; see <see cref="SettingName"/>.</summary>
public sealed record SettingName<T>(string Key, string Env, string Flag, SettingKind<T> Kind, string Example, string Help)
    : SettingName(Key, Env, Flag, Example, Help) where T : notnull
{
    private readonly object? _default;

    /// <summary>The built-in value; unset (<see cref="HasDefault"/> false) when start-up decides or the setting is off.</summary>
    public T Default
    {
        get => _default is T value ? value : throw new InvalidOperationException($"{Key} has no built-in default");
        init => _default = value;
    }

    public bool HasDefault => _default is not null;

    public ManifestBinding<T>? Manifest { get; init; }

    public override object? DefaultValue => _default;
    public override object? ManifestBinding => Manifest;
    public override string Accepts => Kind.Accepts;
    public override string TypeName => Kind.TypeName;

    /// <summary>The value <paramref name="text"/> spells, or a <see cref="SettingsException"/>: "LABEL='TEXT' is not ...; use ...".</summary>
    public T Parse(string label, string text) =>
        Kind.TryParse(text, out var value, out var reason) ? value : throw new SettingsException($"{label}='{text}' {reason}; {Accepts}");

    /// <summary>Refuses a typed value out of range: "LABEL='VALUE' is out of range; use ...".</summary>
    public T Check(string label, T value) =>
        Kind.Allows(value) ? value : throw new SettingsException($"{label}='{Kind.Format(value)}' is out of range; {Accepts}");

    public override object ParseBoxed(string label, string text) => Parse(label, text);

    public override bool TryParseBoxed(string text, out object value, out string reason)
    {
        var ok = Kind.TryParse(text, out var typed, out reason);
        value = typed;
        return ok;
    }

    public override bool TakesText => typeof(T) == typeof(string) || Kind is SizeKind;
    public override void CheckBoxed(string label, object value) => Check(label, (T)value);
    public override bool AllowsBoxed(object value) => value is T typed && Kind.Allows(typed);

    public override object? ReadManifestBoxed(ManifestRuntime runtime) => Manifest?.Read(runtime);

    public override void WriteManifestBoxed(ManifestRuntime runtime, object value) =>
        (Manifest ?? throw new InvalidOperationException($"{Key} is not a bentofile setting")).Write(runtime, (T)value);

    public override string Format(object? value) =>
        IsSecret ? (value is null ? "unset" : "set") : value is null ? UnsetText : Kind.Format((T)value);
}

/// <summary>
/// A setting value that must be refused: it does not parse, is out of range, or tries to change a setting the
/// bento's builder locked. The message is meant for the operator as-is: it names the variable, flag or field, the bad
/// value and what would be accepted. The runtime stops start-up with it; <c>bento deploy</c> refuses to generate.
/// </summary>
public sealed class SettingsException(string message) : BentoException(message);
