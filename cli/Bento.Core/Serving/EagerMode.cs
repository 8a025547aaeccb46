using System.Text.Json;
using System.Text.Json.Serialization;

namespace Bento.Core.Serving;

/// <summary>
/// The values of enforce_eager: <see cref="True"/> never uses CUDA graphs, <see cref="False"/> always does on a GPU,
/// <see cref="Auto"/> lets the memory planner decide (graphs only if their pool fits once the KV cache has its
/// minimum, see <see cref="MemoryPlanner"/>). On a CPU there are no graphs whatever the value.
/// </summary>
[JsonConverter(typeof(EagerModeJsonConverter))]
public enum EagerMode { False, True, Auto }

public static class EagerModes
{
    public const string AutoWord = "auto";

    /// <summary>What enforce_eager accepts, ending an error message.</summary>
    public const string Accepts = "use true/false, 1/0, yes/no, on/off or auto";

    /// <summary>The boolean spellings of <see cref="BoolSetting"/> or "auto", in any case; null for anything else.</summary>
    public static EagerMode? TryParse(string text) =>
        string.Equals(text.Trim(), AutoWord, StringComparison.OrdinalIgnoreCase) ? EagerMode.Auto
        : BoolSetting.TryParse(text) is { } b ? FromBool(b)
        : null;

    public static EagerMode FromBool(bool value) => value ? EagerMode.True : EagerMode.False;

    /// <summary>"true", "false" or "auto": how logs, labels, /health and bento.yaml write the value.</summary>
    public static string ToWireName(this EagerMode mode) => mode switch
    {
        EagerMode.True => "true",
        EagerMode.False => "false",
        _ => AutoWord,
    };
}

/// <summary>enforce_eager's kind in the settings table: a boolean in <see cref="BoolSetting"/>'s spellings, or auto.</summary>
public sealed class EagerModeKind : SettingKind<EagerMode>
{
    public override string Accepts => EagerModes.Accepts;
    public override string TypeName => "boolean or auto";

    public override bool TryParse(string text, out EagerMode value, out string reason)
    {
        reason = "is not true, false or auto";
        var parsed = EagerModes.TryParse(text);
        value = parsed ?? EagerMode.False;
        return parsed is not null;
    }

    public override string Format(EagerMode value) => value.ToWireName();
}

/// <summary>
/// JSON (and so bento.yaml) form of <see cref="EagerMode"/>: the booleans stay JSON booleans, as every bento written
/// before auto existed has them (its canonical JSON, hence its version, is unchanged); auto is the string "auto".
/// </summary>
public sealed class EagerModeJsonConverter : JsonConverter<EagerMode>
{
    public override EagerMode Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => reader.TokenType switch
    {
        JsonTokenType.True => EagerMode.True,
        JsonTokenType.False => EagerMode.False,
        JsonTokenType.String when EagerModes.TryParse(reader.GetString()!) is { } mode => mode,
        _ => throw new JsonException($"enforce_eager must be true, false or \"auto\"; {EagerModes.Accepts}"),
    };

    public override void Write(Utf8JsonWriter writer, EagerMode value, JsonSerializerOptions options)
    {
        if (value == EagerMode.Auto) writer.WriteStringValue(EagerModes.AutoWord);
        else writer.WriteBooleanValue(value == EagerMode.True);
    }
}
