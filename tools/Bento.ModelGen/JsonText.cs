using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Bento.ModelGen;

/// <summary>
/// Shared settings for the JSON files we write, so every file uses the same layout.
/// </summary>
internal static class JsonText
{
    /// <summary>2-space indentation like Python's json.dump(indent=2), and no escaping of '&lt;', '&gt;',
    /// '+' or non-ASCII, so special tokens such as &lt;|eot_id|&gt; read as themselves.</summary>
    public static readonly JsonWriterOptions Indented = new()
    {
        Indented = true,
        IndentSize = 2,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    /// <summary>Compact form, for the safetensors header (which the reference implementation writes
    /// without whitespace).</summary>
    public static readonly JsonWriterOptions Compact = new()
    {
        Indented = false,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    /// <summary>Builds a JSON document with <paramref name="write"/> and returns it as UTF-8 bytes with a
    /// trailing newline.</summary>
    public static byte[] Build(Action<Utf8JsonWriter> write, bool indented = true)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, indented ? Indented : Compact))
        {
            write(writer);
        }
        if (indented)
            buffer.WriteByte((byte)'\n');
        return buffer.ToArray();
    }

    /// <summary>Writes a double the way Python's json module does ("10000.0", "1e-05"), so our config
    /// files look like the ones transformers writes; System.Text.Json would write "10000" and "1E-05".</summary>
    public static void WritePythonFloat(Utf8JsonWriter writer, string name, double value)
    {
        writer.WritePropertyName(name);
        writer.WriteRawValue(PythonFloat(value), skipInputValidation: false);
    }

    internal static string PythonFloat(double value)
    {
        if (!double.IsFinite(value))
            throw new ArgumentOutOfRangeException(nameof(value), value, "JSON cannot hold NaN or infinity.");
        var text = value.ToString("R", CultureInfo.InvariantCulture);
        var e = text.IndexOf('E');
        if (e < 0)
            return text.Contains('.') ? text : text + ".0";
        // "1E-05" -> "1e-05"; Python pads the exponent to two digits, as does "R".
        var mantissa = text[..e];
        var exponent = text[(e + 1)..];
        var sign = exponent[0] == '-' ? "-" : "+";
        var digits = exponent.TrimStart('+', '-').PadLeft(2, '0');
        return new StringBuilder(mantissa).Append('e').Append(sign).Append(digits).ToString();
    }
}
