namespace Bento.Core.Serving;

/// <summary>
/// The names one engine setting goes by: its key in logs, /health and the manifest, the environment variable that
/// overrides it, its command-line flag, and the words error messages use for what it accepts. This is the one table
/// of serve-time settings: the runtime parses its flags and variables from it, and <c>bento serve</c> declares its
/// options from it, so the CLI and the runtime cannot disagree about which flags exist. It lives in Bento.Core
/// because the CLI must not load the runtime (which carries LibTorch).
/// </summary>
/// <param name="Accepts">What is accepted, ending an error message, e.g. "use a whole number from 1 to 65535".</param>
/// <param name="Example">A valid value, for "--port needs a value, e.g. --port 3000".</param>
/// <param name="Help">One line for <c>--help</c>.</param>
/// <param name="IsSwitch">A flag that may stand alone (<c>--enforce-eager</c>) or take a value (<c>--enforce-eager=false</c>).</param>
public sealed record SettingName(string Key, string Env, string Flag, string Accepts, string Example, string Help, bool IsSwitch = false)
{
    /// <summary>
    /// The environment variable is the bento's choice (manifest <c>runtime.enforce_eager.env</c>); this is the name
    /// used when the bento chose none. <see cref="NoEnforceEagerFlag"/> is the negative flag.
    /// </summary>
    public static readonly SettingName EnforceEager = new("enforce_eager", "BENTO_ENFORCE_EAGER", "--enforce-eager",
        "use true/false, 1/0, yes/no or on/off", "true",
        "Disable CUDA graphs (overrides the bento and its variable unless the builder locked it)", IsSwitch: true);
    public static readonly SettingName MaxModelLen = new("max_model_len", "BENTO_MAX_MODEL_LEN", "--max-model-len",
        "use a whole number of at least 1", "4096", "Context length in tokens");
    public static readonly SettingName MaxNumSeqs = new("max_num_seqs", "BENTO_MAX_NUM_SEQS", "--max-num-seqs",
        "use a whole number of at least 1", "16", "Sequences decoded together");
    public static readonly SettingName Dtype = new("dtype", "BENTO_DTYPE", "--dtype",
        Model.ModelDtype.Choices, "bfloat16", "Weight and activation dtype");
    public static readonly SettingName GpuMemoryUtilization = new("gpu_memory_utilization", "BENTO_GPU_MEMORY_UTILIZATION", "--gpu-memory-utilization",
        "use a number greater than 0 and at most 1, e.g. 0.9", "0.9", "Fraction of GPU memory the engine may use");
    public static readonly SettingName Port = new("port", "BENTO_PORT", "--port",
        "use a whole number from 1 to 65535", "3000", "Port to listen on (default: the bento's, else 3000)");
    public static readonly SettingName Host = new("host", "BENTO_HOST", "--host",
        "use an address or host name such as 0.0.0.0, :: or 127.0.0.1", "0.0.0.0", "Address to listen on (default 0.0.0.0: all interfaces)");
    public static readonly SettingName ApiKey = new("api_key", "BENTO_API_KEY", "--api-key",
        "give the key", "<key>", "Require 'Authorization: Bearer KEY' on /v1 (visible in ps: prefer --api-key-file or the variable)");
    /// <summary>The API key read from a file (a mounted Kubernetes or Docker secret); one trailing newline is dropped.</summary>
    public static readonly SettingName ApiKeyFile = new("api_key_file", "BENTO_API_KEY_FILE", "--api-key-file",
        "give the path of a file that holds the key", "/run/secrets/api-key", "Read the API key from this file");
    /// <summary>Seconds a stopping server gives in-flight requests before it cancels them.</summary>
    public static readonly SettingName ShutdownTimeout = new("shutdown_timeout", "BENTO_SHUTDOWN_TIMEOUT", "--shutdown-timeout",
        "use a whole number of seconds from 0 to 3600", "25", "Seconds in-flight requests may run on after SIGTERM/SIGINT");

    /// <summary>The largest request body the server reads; a bigger one is answered 413 before it is parsed.</summary>
    public static readonly SettingName MaxRequestBytes = new("max_request_bytes", "BENTO_MAX_REQUEST_BYTES", "--max-request-bytes",
        "use a whole number of bytes from 1024 to 1073741824", "8388608", "Largest request body accepted, in bytes (413 above it)");

    /// <summary>An explicit KV cache size (e.g. 4GiB); unset: from gpu_memory_utilization on a GPU, half of what is available on a CPU.</summary>
    public static readonly SettingName KvCacheMemory = new("kv_cache_memory", "BENTO_KV_CACHE_MEMORY", "--kv-cache-memory",
        "use a size such as 4GiB, 512MiB or a number of bytes", "4GiB", "KV cache size (default: from gpu_memory_utilization, or half the free RAM on a CPU)");

    /// <summary>Which format tool calls take in the model's output (vLLM's --tool-call-parser); auto: from the chat template.</summary>
    public static readonly SettingName ToolCallParser = new("tool_call_parser", "BENTO_TOOL_CALL_PARSER", "--tool-call-parser",
        ToolCallParsers.Choices, "hermes", "Tool-call format of the model's output (default auto: from the chat template)");

    public const string NoEnforceEagerFlag = "--no-enforce-eager";

    /// <summary>Every setting, in the order help, logs and /health list them.</summary>
    public static readonly IReadOnlyList<SettingName> All =
        [EnforceEager, MaxModelLen, MaxNumSeqs, Dtype, GpuMemoryUtilization, Host, Port, ApiKey, ApiKeyFile, ShutdownTimeout, MaxRequestBytes, KvCacheMemory, ToolCallParser];

    /// <summary>How error messages name the manifest field, e.g. <c>bento.yaml runtime.port</c>.</summary>
    public string ManifestField => $"bento.yaml runtime.{Key}";
}
