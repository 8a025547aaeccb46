namespace Bento.Runtime.Settings;

/// <summary>
/// The names one engine setting goes by: its key in logs, /health and the manifest, the environment variable that
/// overrides it, its command-line flag, and the words error messages use for what it accepts. Kept together so
/// messages, the start-up line and /health cannot drift apart.
/// </summary>
/// <param name="Accepts">What is accepted, ending an error message, e.g. "use a whole number from 1 to 65535".</param>
/// <param name="Example">A valid value, for "--port needs a value, e.g. --port 3000".</param>
public sealed record SettingName(string Key, string Env, string Flag, string Accepts, string Example)
{
    /// <summary>
    /// The environment variable is the bento's choice (manifest <c>runtime.enforce_eager.env</c>); this is the name
    /// used when the bento chose none. <see cref="NoEnforceEagerFlag"/> is the negative flag.
    /// </summary>
    public static readonly SettingName EnforceEager = new("enforce_eager", "BENTO_ENFORCE_EAGER", "--enforce-eager",
        "use true/false, 1/0, yes/no or on/off", "true");
    public static readonly SettingName MaxModelLen = new("max_model_len", "BENTO_MAX_MODEL_LEN", "--max-model-len",
        "use a whole number of at least 1", "4096");
    public static readonly SettingName MaxNumSeqs = new("max_num_seqs", "BENTO_MAX_NUM_SEQS", "--max-num-seqs",
        "use a whole number of at least 1", "16");
    public static readonly SettingName Dtype = new("dtype", "BENTO_DTYPE", "--dtype",
        "use auto, float32, float16 or bfloat16 (or the aliases float, half, bf16)", "bfloat16");
    public static readonly SettingName GpuMemoryUtilization = new("gpu_memory_utilization", "BENTO_GPU_MEMORY_UTILIZATION", "--gpu-memory-utilization",
        "use a number greater than 0 and at most 1, e.g. 0.9", "0.9");
    public static readonly SettingName Port = new("port", "BENTO_PORT", "--port",
        "use a whole number from 1 to 65535", "3000");
    public static readonly SettingName Host = new("host", "BENTO_HOST", "--host",
        "use an address or host name such as 0.0.0.0, :: or 127.0.0.1", "0.0.0.0");
    public static readonly SettingName ApiKey = new("api_key", "BENTO_API_KEY", "--api-key",
        "give the key", "<key>");

    public const string NoEnforceEagerFlag = "--no-enforce-eager";

    /// <summary>How error messages name the manifest field, e.g. <c>bento.yaml runtime.port</c>.</summary>
    public string ManifestField => $"bento.yaml runtime.{Key}";
}
