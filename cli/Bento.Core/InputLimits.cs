using System.Globalization;

namespace Bento.Core;

/// <summary>
/// Every bound BentoBuilder puts on what it reads, in one place: a hostile (or merely broken) bentofile, model folder
/// or .bento archive must fail with a clear message instead of exhausting memory, the stack or time. Each limit can
/// be raised (or lowered) with the environment variable named next to it, in bytes or a plain count; the value is
/// read once per process. Build checks its output against the same limits import applies, so what one machine builds
/// another (with the same settings) can import.
/// </summary>
public static class InputLimits
{
    private const long KiB = 1024, MiB = 1024 * KiB;

    /// <summary>
    /// Size of bentofile.yaml and of bento.yaml (the manifest, in the store and inside a .bento). The manifest lists
    /// every file with its sha256, so 16 MiB is room for about a hundred thousand files. Env: BENTO_MAX_YAML_BYTES.
    /// </summary>
    public static readonly InputLimit YamlBytes = Read("BENTO_MAX_YAML_BYTES", 16 * MiB);

    /// <summary>
    /// Nesting depth of a YAML document (mappings and lists, counted through aliases). Ours are four levels deep; the
    /// bound keeps the recursive parsers far from a stack overflow. Env: BENTO_MAX_YAML_DEPTH.
    /// </summary>
    public static readonly InputLimit YamlDepth = Read("BENTO_MAX_YAML_DEPTH", 64);

    /// <summary>
    /// Nodes in a YAML document after aliases are expanded: a 200-byte "billion laughs" expands to a billion nodes,
    /// a 16 MiB manifest of a hundred thousand files to about 700 thousand. Env: BENTO_MAX_YAML_NODES.
    /// </summary>
    public static readonly InputLimit YamlNodes = Read("BENTO_MAX_YAML_NODES", 1_000_000);

    /// <summary>The bentofile's <c>description</c>, which every bento.yaml and image carries. Env: BENTO_MAX_DESCRIPTION_BYTES.</summary>
    public static readonly InputLimit DescriptionBytes = Read("BENTO_MAX_DESCRIPTION_BYTES", 64 * KiB);

    /// <summary>Each label key and value (<c>labels</c> and <c>docker.labels</c>); they end up as image labels. Env: BENTO_MAX_LABEL_BYTES.</summary>
    public static readonly InputLimit LabelBytes = Read("BENTO_MAX_LABEL_BYTES", 16 * KiB);

    /// <summary>A build directory's .bentoignore (read as lines of patterns). Env: BENTO_MAX_IGNORE_FILE_BYTES.</summary>
    public static readonly InputLimit IgnoreFileBytes = Read("BENTO_MAX_IGNORE_FILE_BYTES", 1 * MiB);

    /// <summary>
    /// The model folder's small JSON files, each parsed whole: config.json, generation_config.json,
    /// tokenizer_config.json, special_tokens_map.json and model.safetensors.index.json (all kilobytes in practice).
    /// Env: BENTO_MAX_MODEL_JSON_BYTES.
    /// </summary>
    public static readonly InputLimit ModelJsonBytes = Read("BENTO_MAX_MODEL_JSON_BYTES", 16 * MiB);

    /// <summary>tokenizer.json, parsed whole (Llama 3's is 9 MB, the largest common ones about 35 MB). Env: BENTO_MAX_TOKENIZER_JSON_BYTES.</summary>
    public static readonly InputLimit TokenizerJsonBytes = Read("BENTO_MAX_TOKENIZER_JSON_BYTES", 256 * MiB);

    /// <summary>
    /// The JSON header at the start of a .safetensors file, read into memory before any tensor data; the reference
    /// implementation refuses more than 100 MB. Env: BENTO_MAX_SAFETENSORS_HEADER_BYTES.
    /// </summary>
    public static readonly InputLimit SafetensorsHeaderBytes = Read("BENTO_MAX_SAFETENSORS_HEADER_BYTES", 100_000_000);

    /// <summary>
    /// Tar metadata entries in a .bento, which System.Formats.Tar reads whole into memory: PAX extended headers and
    /// GNU long names/links. Ours hold a path and a few numbers. Env: BENTO_MAX_TAR_METADATA_BYTES.
    /// </summary>
    public static readonly InputLimit TarMetadataBytes = Read("BENTO_MAX_TAR_METADATA_BYTES", 64 * KiB);

    /// <summary>"16 MiB", "1.4 GiB", "512 bytes": a size as messages print it.</summary>
    public static string Bytes(long bytes)
    {
        if (bytes < KiB) return $"{bytes} bytes";
        string[] units = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
        var value = (double)bytes / KiB;
        var unit = 0;
        while (value >= 1024 && unit < units.Length - 1) { value /= 1024; unit++; }
        var text = value >= 100 || value == Math.Floor(value) ? Math.Floor(value).ToString(CultureInfo.InvariantCulture) : value.ToString("0.#", CultureInfo.InvariantCulture);
        return $"{text} {units[unit]}";
    }

    private static InputLimit Read(string variable, long fallback)
    {
        var text = Environment.GetEnvironmentVariable(variable);
        // A bad override must not silently remove the protection, nor crash type initialisation: keep the default.
        var value = !string.IsNullOrWhiteSpace(text) &&
                    long.TryParse(text.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var parsed) && parsed > 0 ? parsed : fallback;
        return new InputLimit(value, variable);
    }
}

/// <summary>One bound of <see cref="InputLimits"/>: its value and the environment variable that overrides it.</summary>
public readonly record struct InputLimit(long Value, string Variable)
{
    /// <summary>The value as a size ("64 KiB"), for limits in bytes.</summary>
    public string Size => InputLimits.Bytes(Value);

    /// <summary>What a message tells the user who really needs more.</summary>
    public string RaiseHint => $"set {Variable} to raise the limit";
}
