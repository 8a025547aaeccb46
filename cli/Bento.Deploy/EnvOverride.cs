using System.Text.RegularExpressions;
using Bento.Core;
using Bento.Core.Manifest;
using Bento.Core.Serving;

namespace Bento.Deploy;

/// <summary>One <c>--env NAME=VALUE</c> of a deployment.</summary>
public sealed partial record EnvOverride(string Name, string Value)
{
    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]*$")]
    private static partial Regex NameRule();

    public static EnvOverride Parse(string text)
    {
        var eq = text.IndexOf('=');
        if (eq <= 0) throw new UsageException($"--env '{text}' is not NAME=VALUE, e.g. --env {SettingName.EnforceEager.Env}=1");
        var name = text[..eq];
        if (!NameRule().IsMatch(name))
            throw new UsageException($"--env '{text}': '{name}' is not a variable name; use letters, digits and '_', not starting with a digit");
        return new EnvOverride(name, text[(eq + 1)..]);
    }

    /// <summary>
    /// Refuses what the runtime would refuse at start, so a deployment cannot be generated that crash-loops or that
    /// silently ignores the operator: an override of a setting the builder locked, and a value a setting cannot take
    /// (judged by the setting's own rule from the one table, as the runtime judges it).
    /// </summary>
    public static void CheckAgainst(IReadOnlyList<EnvOverride> overrides, BentoManifest manifest)
    {
        var eager = manifest.Runtime.EnforceEager;
        foreach (var o in overrides)
        {
            var isEager = o.Name == eager.Env || o.Name == SettingName.EnforceEager.Env;
            if (isEager && !eager.Overridable)
                throw new BentoException($"--env {o.Name}={o.Value}: {manifest.Tag} locks enforce_eager to {eager.Value.ToWireName()} (its bentofile says overridable: false), so the runtime would refuse this override; rebuild the bento with overridable: true to change it per deployment");
            var setting = isEager ? SettingName.EnforceEager : SettingName.ByEnv(o.Name);
            // The runtime reads the key file inside the pod; only the key itself is a value to judge here.
            if (setting is null || string.IsNullOrWhiteSpace(o.Value) || setting == SettingName.ApiKeyFile) continue;
            Typed(o, setting, manifest);
        }
    }

    /// <summary>The typed value of an override of <paramref name="setting"/>, or a usage error naming it.</summary>
    public static object Typed(EnvOverride o, SettingName setting, BentoManifest manifest)
    {
        if (!setting.TryParseBoxed(o.Value, out var value, out var reason))
            throw new UsageException($"--env {o.Name}='{o.Value}' {reason}; {setting.Accepts}");
        var limit = manifest.Model.MaxPositionEmbeddings;
        if (setting == SettingName.MaxModelLen && limit > 0 && (int)value > limit)
            throw new UsageException($"--env {o.Name}='{o.Value}' is out of range; use a whole number from 1 to {limit} (the model's max_position_embeddings)");
        return value;
    }
}
