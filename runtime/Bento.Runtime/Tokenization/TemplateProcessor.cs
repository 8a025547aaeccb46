using System.Text.Json;

namespace Bento.Runtime.Tokenization;

/// <summary>
/// TemplateProcessing's <c>single</c> template: a list of fixed special tokens and the placeholder for the
/// encoded sequence, e.g. [SpecialToken &lt;|begin_of_text|&gt;, Sequence A].
/// </summary>
internal sealed class TemplateProcessor(IReadOnlyList<TemplateProcessor.Piece> pieces) : PostProcessor
{
    /// <summary>Either fixed ids or (when <see cref="TokenIds"/> is null) the encoded sequence.</summary>
    public sealed record Piece(int[]? TokenIds)
    {
        public static readonly Piece Sequence = new((int[]?)null);

        public static Piece Ids(int[] ids) => new(ids);
    }

    public static TemplateProcessor FromJson(JsonElement json)
    {
        var specialTokens = new Dictionary<string, int[]>(StringComparer.Ordinal);
        if (json.Field("special_tokens") is { ValueKind: JsonValueKind.Object } specials)
        {
            foreach (var special in specials.EnumerateObject())
                specialTokens[special.Name] = special.Value.ArrayField("ids").Select(id => id.GetInt32()).ToArray();
        }

        var pieces = new List<Piece>();
        foreach (var item in json.ArrayField("single"))
        {
            if (item.Field("Sequence") is not null)
            {
                pieces.Add(Piece.Sequence);
            }
            else if (item.Field("SpecialToken") is { } special && special.StringField("id") is { } name)
            {
                if (!specialTokens.TryGetValue(name, out var ids))
                    throw new TokenizerFormatException($"tokenizer.json: post_processor template names '{name}', which is not in its special_tokens");
                pieces.Add(Piece.Ids(ids));
            }
            else
            {
                throw new TokenizerFormatException($"tokenizer.json: post_processor template piece {item.GetRawText()} is not understood");
            }
        }
        return new TemplateProcessor(pieces);
    }

    public override List<int> Process(List<int> ids)
    {
        var result = new List<int>(ids.Count + pieces.Count);
        foreach (var piece in pieces)
        {
            if (piece.TokenIds is null)
                result.AddRange(ids);
            else
                result.AddRange(piece.TokenIds);
        }
        return result;
    }
}
