using System.Globalization;
using Bento.Core.Manifest;

namespace Bento.Runtime.Settings;

/// <summary>
/// Works out the effective engine settings of one start, for every setting of the one table
/// (<see cref="SettingName.All"/>). Precedence, lowest first: built-in default &lt; the bento's manifest &lt; an
/// environment variable &lt; a command-line flag. Pure: the caller passes the environment, so tests and hosts decide
/// what it contains.
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
        var values = new Dictionary<SettingName, Setting<object?>>
        {
            [SettingName.EnforceEager] = ResolveEnforceEager(runtime?.EnforceEager, eagerEnv, environment, cli, notes),
            [SettingName.ApiKey] = ResolveApiKey(environment, cli),
        };
        foreach (var setting in SettingName.All.Where(s => !values.ContainsKey(s) && s != SettingName.ApiKeyFile))
            values[setting] = setting == SettingName.MaxModelLen
                ? ResolveMaxModelLen(manifest, environment, cli)
                : Layer(setting, runtime, environment, cli);

        return new EngineSettings(values)
        {
            EnforceEagerEnv = eagerEnv,
            EnforceEagerOverridable = runtime?.EnforceEager.Overridable ?? true,
            Notes = notes,
        };
    }

    private static Setting<object?> ResolveEnforceEager(
        ManifestEnforceEager? bento, string envName, IReadOnlyDictionary<string, string> environment, CliOverrides cli, List<string> notes)
    {
        var name = SettingName.EnforceEager;
        var setting = bento is null
            ? new Setting<object?>(name.Default, SettingSource.Default)
            : new Setting<object?>(bento.Value, SettingSource.Bento);
        var locked = bento is { Overridable: false };

        if (Read(environment, envName) is { } text)
        {
            var value = name.Parse(envName, text);
            if (!locked) setting = new Setting<object?>(value, SettingSource.Env, envName);
            else if (!value.Equals(setting.Value)) throw LockConflict($"{envName}={text}", (EagerMode)setting.Value!, "unset the variable");
            else notes.Add($"{envName}={text} matches enforce_eager={name.Format(value)}, which this bento's builder locked (overridable: false); it has nothing to override");
        }

        if (cli[name] is { } given)
        {
            var flagValue = given is string flagText ? name.Parse(name.Flag, flagText) : (EagerMode)given;
            var flag = flagValue switch
            {
                EagerMode.True => name.Flag,
                EagerMode.False => SettingName.NoEnforceEagerFlag,
                _ => $"{name.Flag}={EagerModes.AutoWord}",
            };
            if (!locked) setting = new Setting<object?>(flagValue, SettingSource.Cli, flag);
            else if (!flagValue.Equals(setting.Value)) throw LockConflict(flag, (EagerMode)setting.Value!, "drop the flag");
            else notes.Add($"{flag} matches enforce_eager={name.Format(flagValue)}, which this bento's builder locked (overridable: false); it has nothing to override");
        }

        if (envName != name.Env && Read(environment, name.Env) is not null)
            notes.Add($"{name.Env} is set but ignored: this bento reads enforce_eager from {envName}");

        return setting;
    }

    private static SettingsException LockConflict(string attempt, EagerMode locked, string remedy) =>
        new($"{attempt} conflicts with this bento: enforce_eager is locked to {SettingName.EnforceEager.Format(locked)} by its builder (overridable: false); " +
            $"{remedy} or rebuild the bento with overridable: true");

    /// <summary>max_model_len, bounded by the model's max_position_embeddings when the manifest records it.</summary>
    private static Setting<object?> ResolveMaxModelLen(BentoManifest? manifest, IReadOnlyDictionary<string, string> environment, CliOverrides cli)
    {
        var modelLimit = manifest?.Model.MaxPositionEmbeddings ?? 0;
        if (modelLimit <= 0) return Layer(SettingName.MaxModelLen, manifest?.Runtime, environment, cli);
        var hint = $"use a whole number from 1 to {modelLimit.ToString(CultureInfo.InvariantCulture)} (the model's max_position_embeddings)";
        return Layer(SettingName.MaxModelLen, manifest!.Runtime, environment, cli, v => (int)v <= modelLimit, hint);
    }

    /// <summary>
    /// The key from <c>BENTO_API_KEY</c> or the file <c>BENTO_API_KEY_FILE</c> names, then from <c>--api-key</c> or
    /// <c>--api-key-file</c> (a flag beats a variable). Giving both a key and a key file in one layer is refused: which
    /// one was meant cannot be known, and guessing wrong opens or locks the server.
    /// </summary>
    private static Setting<object?> ResolveApiKey(IReadOnlyDictionary<string, string> environment, CliOverrides cli)
    {
        SettingName key = SettingName.ApiKey, file = SettingName.ApiKeyFile;
        var setting = new Setting<object?>(null, SettingSource.Default) { IsSecret = true };
        var envKey = Read(environment, key.Env);
        var envFile = Read(environment, file.Env);
        if (envKey is not null && envFile is not null)
            throw new SettingsException($"both {key.Env} and {file.Env} are set; set only one");
        // Trimmed like every variable: a key pasted with a trailing newline would otherwise never match a header.
        if (envKey is not null)
            setting = new Setting<object?>(envKey, SettingSource.Env, key.Env) { IsSecret = true };
        if (envFile is not null)
            setting = new Setting<object?>(ApiKeyFileReader.Read(file.Env, envFile), SettingSource.Env, file.Env) { IsSecret = true };

        var flagKey = cli[key] as string;
        var flagFile = cli[file] as string;
        if (flagKey is not null && flagFile is not null)
            throw new SettingsException($"both {key.Flag} and {file.Flag} are given; give only one");
        if (flagKey is not null)
        {
            // An explicitly empty flag is ambiguous ("no key"? a script's unset variable?); refuse rather than guess.
            if (string.IsNullOrWhiteSpace(flagKey))
                throw new SettingsException($"{key.Flag} is empty; give the key, or leave the flag out to use {key.Env} or no key");
            setting = new Setting<object?>(flagKey.Trim(), SettingSource.Cli, key.Flag) { IsSecret = true };
        }
        if (flagFile is not null)
            setting = new Setting<object?>(ApiKeyFileReader.Read(file.Flag, flagFile), SettingSource.Cli, file.Flag) { IsSecret = true };
        return setting;
    }

    /// <summary>
    /// Applies the four layers to one setting with the setting's own rule: the manifest's value (text is parsed, a
    /// typed value range-checked), the variable's text, then the flag (text or typed). <paramref name="limit"/> and
    /// <paramref name="accepts"/> narrow the rule for this start (max_model_len within the model's limit).
    /// </summary>
    private static Setting<object?> Layer(SettingName name, ManifestRuntime? runtime, IReadOnlyDictionary<string, string> environment,
        CliOverrides cli, Func<object, bool>? limit = null, string? accepts = null)
    {
        accepts ??= name.Accepts;
        object Judge(string label, object value)
        {
            if (value is string text)
            {
                if (!name.TryParseBoxed(text, out var parsed, out var reason))
                    throw new SettingsException($"{label}='{text}' {reason}; {accepts}");
                return Within(label, parsed, text);
            }
            return Within(label, value, name.Format(value));
        }
        object Within(string label, object value, string shown) =>
            name.AllowsBoxed(value) && (limit?.Invoke(value) ?? true)
                ? value
                : throw new SettingsException($"{label}='{shown}' is out of range; {accepts}");

        var setting = new Setting<object?>(name.DefaultValue, SettingSource.Default);
        if (runtime is not null && name.ReadManifestBoxed(runtime) is { } fromBento)
            setting = new Setting<object?>(Judge(name.ManifestField, fromBento), SettingSource.Bento);
        if (Read(environment, name.Env) is { } fromEnv)
            setting = new Setting<object?>(Judge(name.Env, fromEnv), SettingSource.Env, name.Env);
        if (cli[name] is { } fromCli)
            setting = new Setting<object?>(Judge(name.Flag, fromCli), SettingSource.Cli, name.Flag);
        return setting;
    }

    /// <summary>The variable's text, trimmed; null when it is absent, empty or only whitespace.</summary>
    private static string? Read(IReadOnlyDictionary<string, string> environment, string name) =>
        environment.TryGetValue(name, out var value) && !string.IsNullOrWhiteSpace(value) ? value.Trim() : null;
}
