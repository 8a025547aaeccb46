using System.Text;

namespace Bento.Core.Serving;

/// <summary>
/// The README's settings table, rendered from <see cref="SettingName.All"/>. The README holds a copy between
/// <see cref="Begin"/> and <see cref="End"/>; a test fails when the copy drifts from the table.
/// </summary>
public static class SettingsTable
{
    public const string Begin = "<!-- settings-table: generated from cli/Bento.Core/Serving/SettingName.cs; a test checks it -->";
    public const string End = "<!-- /settings-table -->";

    public static string Markdown()
    {
        var s = new StringBuilder();
        s.Append("| setting | what | values | default | in bentofile `runtime:` | variable | `bento serve` flag |\n");
        s.Append("|---|---|---|---|---|---|---|\n");
        foreach (var setting in SettingName.All)
        {
            var variable = setting == SettingName.EnforceEager
                ? $"`{setting.Env}` (or the bentofile's `env`; refused when the bento locks it)"
                : $"`{setting.Env}`";
            var flag = setting == SettingName.EnforceEager ? $"`{setting.Flag}` / `{SettingName.NoEnforceEagerFlag}`" : $"`{setting.Flag}`";
            s.Append($"| {setting.Key} | {setting.Help.Replace("|", "\\|")} | {setting.TypeName} | {setting.DefaultText} | {(setting.InBentofile ? "yes" : "no")} | {variable} | {flag} |\n");
        }
        return s.ToString();
    }

    /// <summary>The table as <paramref name="readme"/> holds it (between the markers), or null when it has none.</summary>
    public static string? Extract(string readme)
    {
        var begin = readme.IndexOf(Begin, StringComparison.Ordinal);
        var end = readme.IndexOf(End, StringComparison.Ordinal);
        if (begin < 0 || end < begin) return null;
        return readme[(begin + Begin.Length)..end].Trim('\n') + "\n";
    }
}
