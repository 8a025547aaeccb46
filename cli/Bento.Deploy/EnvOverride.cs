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
    /// silently ignores the operator: an override of a setting the builder locked, and a value a setting cannot take.
    /// </summary>
    public static void CheckAgainst(IReadOnlyList<EnvOverride> overrides, BentoManifest manifest)
    {
        var eager = manifest.Runtime.EnforceEager;
        foreach (var o in overrides)
        {
            var isEager = o.Name == eager.Env || o.Name == SettingName.EnforceEager.Env;
            if (isEager && !eager.Overridable)
                throw new BentoException($"--env {o.Name}={o.Value}: {manifest.Tag} locks enforce_eager to {eager.Value.ToWireName()} (its bentofile says overridable: false), so the runtime would refuse this override; rebuild the bento with overridable: true to change it per deployment");
            if (isEager && EagerModes.TryParse(o.Value) is null)
                throw new UsageException($"--env {o.Name}='{o.Value}' is not true, false or auto; {SettingName.EnforceEager.Accepts}");
            var setting = SettingName.All.FirstOrDefault(s => s.Env == o.Name);
            if (setting == SettingName.MaxNumSeqs || setting == SettingName.MaxModelLen)
                if (!int.TryParse(o.Value, out var n) || n < 1)
                    throw new UsageException($"--env {o.Name}='{o.Value}': {setting.Accepts}");
            if (setting == SettingName.KvCacheMemory && !ByteSize.TryParse(o.Value, out _))
                throw new UsageException($"--env {o.Name}='{o.Value}': {setting.Accepts}");
            if (setting == SettingName.Port && (!int.TryParse(o.Value, out var port) || port is < 1 or > 65535))
                throw new UsageException($"--env {o.Name}='{o.Value}': {setting.Accepts}");
        }
    }
}
