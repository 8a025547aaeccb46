using System.Text.Json;

namespace Bento.Runtime.Tokenization;

/// <summary>
/// Reading helpers for the Hugging Face JSON files, where a field may be absent, null, or of a type other
/// than the one we expect; each helper treats absent and null alike, because the files are written by
/// several tools that disagree on which to use.
/// </summary>
internal static class JsonElementFields
{
    /// <summary>The field's value, or null when it is missing or JSON null.</summary>
    public static JsonElement? Field(this JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object
        && element.TryGetProperty(name, out var value)
        && value.ValueKind is not (JsonValueKind.Null or JsonValueKind.Undefined)
            ? value
            : null;

    public static string? StringField(this JsonElement element, string name) =>
        element.Field(name) is { ValueKind: JsonValueKind.String } value ? value.GetString() : null;

    public static bool BoolField(this JsonElement element, string name, bool fallback) =>
        element.Field(name) is { } value && value.ValueKind is JsonValueKind.True or JsonValueKind.False
            ? value.GetBoolean()
            : fallback;

    public static bool? OptionalBoolField(this JsonElement element, string name) =>
        element.Field(name) is { } value && value.ValueKind is JsonValueKind.True or JsonValueKind.False
            ? value.GetBoolean()
            : null;

    public static int IntField(this JsonElement element, string name, int fallback) =>
        element.Field(name) is { ValueKind: JsonValueKind.Number } value && value.TryGetInt32(out var number)
            ? number
            : fallback;

    /// <summary>The "type" discriminator every tokenizer.json component carries.</summary>
    public static string? ComponentType(this JsonElement element) => element.StringField("type");

    /// <summary>The items of an array field, or nothing when the field is absent.</summary>
    public static IEnumerable<JsonElement> ArrayField(this JsonElement element, string name) =>
        element.Field(name) is { ValueKind: JsonValueKind.Array } array ? array.EnumerateArray() : [];

    /// <summary>A special token written either as a plain string or as transformers' AddedToken object
    /// ({"content": ..., "lstrip": ...}).</summary>
    public static string? TokenContentField(this JsonElement element, string name) =>
        element.Field(name) switch
        {
            { ValueKind: JsonValueKind.String } text => text.GetString(),
            { ValueKind: JsonValueKind.Object } token => token.StringField("content"),
            _ => null,
        };
}
