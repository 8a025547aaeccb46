namespace Bento.Core.Serving;

/// <summary>The spellings a boolean setting accepts (shells, YAML and Docker users reach for all of them), in any case.</summary>
public static class BoolSetting
{
    public static bool? TryParse(string text) => text.Trim().ToLowerInvariant() switch
    {
        "true" or "1" or "yes" or "on" => true,
        "false" or "0" or "no" or "off" => false,
        _ => null,
    };
}
