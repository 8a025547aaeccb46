using System.Text;
using System.Text.Json;

namespace Bento.Runtime.Tokenization;

/// <summary>
/// tokenizer.json's <c>normalizer</c>: rewrites each plain run of input before pre-tokenisation. Llama 2,
/// Mistral and TinyLlama use <c>Sequence[Prepend "▁", Replace " " → "▁"]</c>; Llama 3 has none.
/// </summary>
internal abstract class TextNormalizer
{
    public abstract string Normalize(string text);

    public static TextNormalizer? FromJson(JsonElement? element)
    {
        if (element is not { ValueKind: JsonValueKind.Object } json)
            return null;
        var type = json.ComponentType();
        return type switch
        {
            "Sequence" => new SequenceNormalizer(json.ArrayField("normalizers").Select(item => FromJson(item)!).Where(n => n is not null).ToArray()),
            "Prepend" => new PrependNormalizer(json.StringField("prepend") ?? ""),
            "Replace" => new ReplaceNormalizer(TextPattern.FromJson(json.Field("pattern"), "normalizer Replace"), json.StringField("content") ?? ""),
            "Lowercase" => new LowercaseNormalizer(),
            "Strip" => new StripNormalizer(json.BoolField("strip_left", true), json.BoolField("strip_right", true)),
            "NFC" => new UnicodeFormNormalizer(NormalizationForm.FormC),
            "NFD" => new UnicodeFormNormalizer(NormalizationForm.FormD),
            "NFKC" => new UnicodeFormNormalizer(NormalizationForm.FormKC),
            "NFKD" => new UnicodeFormNormalizer(NormalizationForm.FormKD),
            _ => throw TokenizerFormatException.Unsupported("normalizer", type),
        };
    }

    private sealed class SequenceNormalizer(TextNormalizer[] steps) : TextNormalizer
    {
        public override string Normalize(string text)
        {
            foreach (var step in steps)
                text = step.Normalize(text);
            return text;
        }
    }

    /// <summary>Adds a prefix (SentencePiece's "▁" word marker) to non-empty text, so the first word is
    /// spelled like every other word.</summary>
    private sealed class PrependNormalizer(string prefix) : TextNormalizer
    {
        public override string Normalize(string text) => text.Length == 0 ? text : prefix + text;
    }

    private sealed class ReplaceNormalizer(TextPattern pattern, string content) : TextNormalizer
    {
        public override string Normalize(string text) => pattern.Replace(text, content);
    }

    private sealed class LowercaseNormalizer : TextNormalizer
    {
        public override string Normalize(string text) => text.ToLowerInvariant();
    }

    private sealed class StripNormalizer(bool left, bool right) : TextNormalizer
    {
        public override string Normalize(string text) =>
            left && right ? text.Trim() : left ? text.TrimStart() : right ? text.TrimEnd() : text;
    }

    /// <summary>Unicode normalisation forms (Qwen uses NFC).</summary>
    /// <remarks>The runtime is built with InvariantGlobalization, under which .NET's
    /// <see cref="string.Normalize(NormalizationForm)"/> has no composition data and returns its input.
    /// That is still exact for text already in the form (nearly all real input is NFC), so we accept the
    /// component rather than refuse the model.</remarks>
    private sealed class UnicodeFormNormalizer(NormalizationForm form) : TextNormalizer
    {
        public override string Normalize(string text) => Ascii.IsValid(text) ? text : text.Normalize(form);
    }
}
