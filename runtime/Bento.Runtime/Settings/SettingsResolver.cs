using System.Globalization;
using Bento.Core.Manifest;

namespace Bento.Runtime.Settings;

/// <summary>
/// Works out the effective engine settings of one start. Precedence, lowest first: built-in default
/// (<see cref="EngineDefaults"/>) &lt; the bento's manifest &lt; an environment variable &lt; a command-line flag.
/// Pure: the caller passes the environment, so tests and hosts decide what it contains.
/// </summary>
/// <remarks>
/// Decisions worth knowing:
/// <list type="bullet">
/// <item>Every value that is supplied is validated, even one a higher layer overrides: a broken variable is a
/// deployment mistake to fix now, not when the flag that hid it is dropped.</item>
/// <item>An environment variable that is empty or only whitespace counts as unset (Docker and Helm templates
/// commonly render unset values as empty).</item>
/// <item>enforce_eager locked by the builder (<c>overridable: false</c>): a variable or flag asking for a different
/// value stops start-up; one asking for the same value is accepted, the source stays <c>bento</c> and a note says it
/// had nothing to override.</item>
/// <item>enforce_eager is read only from the variable the bento names; when that is not <c>BENTO_ENFORCE_EAGER</c>,
/// <c>BENTO_ENFORCE_EAGER</c> is ignored, with a note if it is set, since the operator probably meant it.</item>
/// <item>Manifest fields the builder always fills but that read 0 (max_model_len, max_num_seqs) or are blank (dtype,
/// enforce_eager.env) count as "the bento did not say" and fall back to the default.</item>
/// <item>max_model_len may not exceed the model's max_position_embeddings when the manifest records it: positions
/// past it were never trained, and the builder enforces the same bound.</item>
/// </list>
/// </remarks>
public static class SettingsResolver
{
    public static EngineSettings Resolve(BentoManifest? manifest, IReadOnlyDictionary<string, string> environment, CliOverrides cli)
    {
        ArgumentNullException.ThrowIfNull(environment);
        ArgumentNullException.ThrowIfNull(cli);
        var runtime = manifest?.Runtime;
        var notes = new List<string>();

        var eagerEnv = string.IsNullOrWhiteSpace(runtime?.EnforceEager.Env) ? SettingName.EnforceEager.Env : runtime.EnforceEager.Env.Trim();
        var overridable = runtime?.EnforceEager.Overridable ?? true;
        var enforceEager = ResolveEnforceEager(runtime?.EnforceEager, eagerEnv, environment, cli, notes);

        return new EngineSettings
        {
            EnforceEager = enforceEager,
            EnforceEagerEnv = eagerEnv,
            EnforceEagerOverridable = overridable,
            MaxModelLen = ResolveMaxModelLen(manifest, environment, cli),
            MaxNumSeqs = Layer(SettingName.MaxNumSeqs, EngineDefaults.MaxNumSeqs,
                bento: runtime is { MaxNumSeqs: not 0 } ? runtime.MaxNumSeqs : null,
                env: Read(environment, SettingName.MaxNumSeqs.Env),
                parse: (label, text) => SettingValueParser.ParseInt(label, text, SettingName.MaxNumSeqs.Accepts),
                cli: cli.MaxNumSeqs,
                check: (label, value, shown) => RequireRange(label, shown, value >= 1, SettingName.MaxNumSeqs.Accepts)),
            Dtype = LayerText(SettingName.Dtype, EngineDefaults.Dtype,
                bento: string.IsNullOrWhiteSpace(runtime?.Dtype) ? null : SettingValueParser.ParseDtype(SettingName.Dtype.ManifestField, runtime.Dtype),
                env: Read(environment, SettingName.Dtype.Env),
                parse: SettingValueParser.ParseDtype,
                cli: cli.Dtype is null ? null : SettingValueParser.ParseDtype(SettingName.Dtype.Flag, cli.Dtype)),
            GpuMemoryUtilization = Layer(SettingName.GpuMemoryUtilization, EngineDefaults.GpuMemoryUtilization,
                bento: runtime?.GpuMemoryUtilization,
                env: Read(environment, SettingName.GpuMemoryUtilization.Env),
                parse: (label, text) => SettingValueParser.ParseDouble(label, text, SettingName.GpuMemoryUtilization.Accepts),
                cli: cli.GpuMemoryUtilization,
                check: (label, value, shown) => RequireRange(label, shown, value is > 0 and <= 1, SettingName.GpuMemoryUtilization.Accepts)),
            Port = Layer(SettingName.Port, EngineDefaults.Port,
                bento: runtime?.Port,
                env: Read(environment, SettingName.Port.Env),
                parse: (label, text) => SettingValueParser.ParseInt(label, text, SettingName.Port.Accepts),
                cli: cli.Port,
                check: (label, value, shown) => RequireRange(label, shown, value is >= 1 and <= 65535, SettingName.Port.Accepts)),
            Host = LayerText(SettingName.Host, EngineDefaults.Host,
                bento: null,
                env: Read(environment, SettingName.Host.Env),
                parse: SettingValueParser.ParseHost,
                cli: cli.Host is null ? null : SettingValueParser.ParseHost(SettingName.Host.Flag, cli.Host)),
            ApiKey = ResolveApiKey(environment, cli),
            KvCacheMemory = ResolveKvCacheMemory(environment, cli),
            ShutdownTimeout = Layer(SettingName.ShutdownTimeout, EngineDefaults.ShutdownTimeout,
                bento: null,
                env: Read(environment, SettingName.ShutdownTimeout.Env),
                parse: (label, text) => SettingValueParser.ParseInt(label, text, SettingName.ShutdownTimeout.Accepts),
                cli: cli.ShutdownTimeout,
                check: (label, value, shown) => RequireRange(label, shown, value is >= 0 and <= 3600, SettingName.ShutdownTimeout.Accepts)),
            MaxRequestBytes = Layer(SettingName.MaxRequestBytes, EngineDefaults.MaxRequestBytes,
                bento: null,
                env: Read(environment, SettingName.MaxRequestBytes.Env),
                parse: (label, text) => SettingValueParser.ParseInt(label, text, SettingName.MaxRequestBytes.Accepts),
                cli: cli.MaxRequestBytes,
                check: (label, value, shown) => RequireRange(label, shown, value is >= 1024 and <= 1 << 30, SettingName.MaxRequestBytes.Accepts)),
            ToolCallParser = LayerText(SettingName.ToolCallParser, ToolCallParsers.Auto,
                bento: string.IsNullOrWhiteSpace(runtime?.ToolCallParser) ? null : ParseToolCallParser(SettingName.ToolCallParser.ManifestField, runtime.ToolCallParser),
                env: Read(environment, SettingName.ToolCallParser.Env),
                parse: ParseToolCallParser,
                cli: cli.ToolCallParser is null ? null : ParseToolCallParser(SettingName.ToolCallParser.Flag, cli.ToolCallParser)),
            Notes = notes,
        };
    }

    private static string ParseToolCallParser(string label, string text) =>
        ToolCallParsers.Canonical(text) ?? throw new SettingsException($"{label}='{text}' is not a tool-call parser; {SettingName.ToolCallParser.Accepts}");

    private static Setting<bool> ResolveEnforceEager(
        ManifestEnforceEager? bento, string envName, IReadOnlyDictionary<string, string> environment, CliOverrides cli, List<string> notes)
    {
        var setting = bento is null
            ? new Setting<bool>(EngineDefaults.EnforceEager, SettingSource.Default)
            : new Setting<bool>(bento.Value, SettingSource.Bento);
        var locked = bento is { Overridable: false };

        if (Read(environment, envName) is { } text)
        {
            var value = SettingValueParser.ParseBool(envName, text);
            if (!locked) setting = new Setting<bool>(value, SettingSource.Env, envName);
            else if (value != setting.Value) throw LockConflict($"{envName}={text}", setting.Value, "unset the variable");
            else notes.Add($"{envName}={text} matches enforce_eager={Bool(setting.Value)}, which this bento's builder locked (overridable: false); it has nothing to override");
        }

        if (cli.EnforceEager is { } flagValue)
        {
            var flag = flagValue ? SettingName.EnforceEager.Flag : SettingName.NoEnforceEagerFlag;
            if (!locked) setting = new Setting<bool>(flagValue, SettingSource.Cli, flag);
            else if (flagValue != setting.Value) throw LockConflict(flag, setting.Value, "drop the flag");
            else notes.Add($"{flag} matches enforce_eager={Bool(setting.Value)}, which this bento's builder locked (overridable: false); it has nothing to override");
        }

        if (envName != SettingName.EnforceEager.Env && Read(environment, SettingName.EnforceEager.Env) is not null)
            notes.Add($"{SettingName.EnforceEager.Env} is set but ignored: this bento reads enforce_eager from {envName}");

        return setting;
    }

    private static SettingsException LockConflict(string attempt, bool locked, string remedy) =>
        new($"{attempt} conflicts with this bento: enforce_eager is locked to {Bool(locked)} by its builder (overridable: false); " +
            $"{remedy} or rebuild the bento with overridable: true");

    private static Setting<int?> ResolveMaxModelLen(BentoManifest? manifest, IReadOnlyDictionary<string, string> environment, CliOverrides cli)
    {
        var modelLimit = manifest?.Model.MaxPositionEmbeddings ?? 0;
        var hint = modelLimit > 0
            ? $"use a whole number from 1 to {modelLimit.ToString(CultureInfo.InvariantCulture)} (the model's max_position_embeddings)"
            : SettingName.MaxModelLen.Accepts;
        var maxModelLen = manifest?.Runtime.MaxModelLen ?? 0;
        var setting = Layer(SettingName.MaxModelLen, EngineDefaults.MaxModelLen ?? 0,
            bento: maxModelLen != 0 ? maxModelLen : null,
            env: Read(environment, SettingName.MaxModelLen.Env),
            parse: (label, text) => SettingValueParser.ParseInt(label, text, hint),
            cli: cli.MaxModelLen,
            check: (label, value, shown) => RequireRange(label, shown, value >= 1 && (modelLimit <= 0 || value <= modelLimit), hint));
        // 0 stood in for "no value" only to share Layer; the default is "from the model's config".
        return setting.Source == SettingSource.Default
            ? new Setting<int?>(EngineDefaults.MaxModelLen, SettingSource.Default)
            : new Setting<int?>(setting.Value, setting.Source, setting.Origin);
    }

    private static Setting<long?> ResolveKvCacheMemory(IReadOnlyDictionary<string, string> environment, CliOverrides cli)
    {
        var setting = new Setting<long?>(null, SettingSource.Default);
        if (Read(environment, SettingName.KvCacheMemory.Env) is { } text)
            setting = new Setting<long?>(ParseKvSize(SettingName.KvCacheMemory.Env, text), SettingSource.Env, SettingName.KvCacheMemory.Env);
        if (cli.KvCacheMemory is { } flag)
            setting = new Setting<long?>(ParseKvSize(SettingName.KvCacheMemory.Flag, flag), SettingSource.Cli, SettingName.KvCacheMemory.Flag);
        return setting;
    }

    private static long ParseKvSize(string label, string text) =>
        ByteSize.TryParse(text, out var bytes) && bytes > 0
            ? bytes
            : throw new SettingsException($"{label}='{text}' is not a memory size; {SettingName.KvCacheMemory.Accepts}");

    /// <summary>
    /// The key from <c>BENTO_API_KEY</c> or the file <c>BENTO_API_KEY_FILE</c> names, then from <c>--api-key</c> or
    /// <c>--api-key-file</c> (a flag beats a variable). Giving both a key and a key file in one layer is refused: which
    /// one was meant cannot be known, and guessing wrong opens or locks the server.
    /// </summary>
    private static Setting<string?> ResolveApiKey(IReadOnlyDictionary<string, string> environment, CliOverrides cli)
    {
        var setting = new Setting<string?>(EngineDefaults.ApiKey, SettingSource.Default) { IsSecret = true };
        var envKey = Read(environment, SettingName.ApiKey.Env);
        var envFile = Read(environment, SettingName.ApiKeyFile.Env);
        if (envKey is not null && envFile is not null)
            throw new SettingsException($"both {SettingName.ApiKey.Env} and {SettingName.ApiKeyFile.Env} are set; set only one");
        // Trimmed like every variable: a key pasted with a trailing newline would otherwise never match a header.
        if (envKey is not null)
            setting = new Setting<string?>(envKey.Trim(), SettingSource.Env, SettingName.ApiKey.Env) { IsSecret = true };
        if (envFile is not null)
            setting = new Setting<string?>(ApiKeyFileReader.Read(SettingName.ApiKeyFile.Env, envFile), SettingSource.Env, SettingName.ApiKeyFile.Env) { IsSecret = true };

        if (cli.ApiKey is not null && cli.ApiKeyFile is not null)
            throw new SettingsException($"both {SettingName.ApiKey.Flag} and {SettingName.ApiKeyFile.Flag} are given; give only one");
        if (cli.ApiKey is { } fromFlag)
        {
            // An explicitly empty flag is ambiguous ("no key"? a script's unset variable?); refuse rather than guess.
            if (string.IsNullOrWhiteSpace(fromFlag))
                throw new SettingsException($"{SettingName.ApiKey.Flag} is empty; give the key, or leave the flag out to use {SettingName.ApiKey.Env} or no key");
            setting = new Setting<string?>(fromFlag.Trim(), SettingSource.Cli, SettingName.ApiKey.Flag) { IsSecret = true };
        }
        if (cli.ApiKeyFile is { } file)
            setting = new Setting<string?>(ApiKeyFileReader.Read(SettingName.ApiKeyFile.Flag, file), SettingSource.Cli, SettingName.ApiKeyFile.Flag) { IsSecret = true };
        return setting;
    }

    /// <summary>
    /// Applies the four layers to one numeric setting. <paramref name="parse"/> turns the variable's text into a
    /// value; <paramref name="check"/> validates each supplied value (label, value, value as shown in the message).
    /// </summary>
    private static Setting<T> Layer<T>(
        SettingName name, T builtIn, T? bento, string? env, Func<string, string, T> parse, T? cli,
        Action<string, T, string> check) where T : struct, IFormattable
    {
        var setting = new Setting<T>(builtIn, SettingSource.Default);
        if (bento is { } fromBento)
        {
            check(name.ManifestField, fromBento, Show(fromBento));
            setting = new Setting<T>(fromBento, SettingSource.Bento);
        }
        if (env is not null)
        {
            var fromEnv = parse(name.Env, env);
            check(name.Env, fromEnv, env);
            setting = new Setting<T>(fromEnv, SettingSource.Env, name.Env);
        }
        if (cli is { } fromCli)
        {
            check(name.Flag, fromCli, Show(fromCli));
            setting = new Setting<T>(fromCli, SettingSource.Cli, name.Flag);
        }
        return setting;
    }

    /// <summary>
    /// Applies the four layers to one text setting. The bento's and the flag's values arrive already parsed (the
    /// caller names them in its messages); <paramref name="parse"/> handles the variable's text.
    /// </summary>
    private static Setting<string> LayerText(
        SettingName name, string builtIn, string? bento, string? env, Func<string, string, string> parse, string? cli)
    {
        var setting = new Setting<string>(builtIn, SettingSource.Default);
        if (bento is not null) setting = new Setting<string>(bento, SettingSource.Bento);
        if (env is not null) setting = new Setting<string>(parse(name.Env, env), SettingSource.Env, name.Env);
        if (cli is not null) setting = new Setting<string>(cli, SettingSource.Cli, name.Flag);
        return setting;
    }

    private static void RequireRange(string label, string shown, bool inRange, string hint)
    {
        if (!inRange) throw new SettingsException($"{label}='{shown}' is out of range; {hint}");
    }

    /// <summary>The variable's text, trimmed; null when it is absent, empty or only whitespace.</summary>
    private static string? Read(IReadOnlyDictionary<string, string> environment, string name) =>
        environment.TryGetValue(name, out var value) && !string.IsNullOrWhiteSpace(value) ? value.Trim() : null;

    private static string Show<T>(T value) where T : struct, IFormattable => value.ToString(null, CultureInfo.InvariantCulture);

    private static string Bool(bool value) => value ? "true" : "false";
}
