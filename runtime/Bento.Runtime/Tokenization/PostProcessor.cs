using System.Text.Json;

namespace Bento.Runtime.Tokenization;

/// <summary>
/// tokenizer.json's <c>post_processor</c>: adds the special tokens around an encoded sequence when the
/// caller asks for special tokens (Llama 3 prepends &lt;|begin_of_text|&gt; this way). Only the
/// single-sequence form matters to a generation server.
/// </summary>
internal abstract class PostProcessor
{
    public abstract List<int> Process(List<int> ids);

    public static PostProcessor? FromJson(JsonElement? element)
    {
        if (element is not { ValueKind: JsonValueKind.Object } json)
            return null;
        var type = json.ComponentType();
        return type switch
        {
            "TemplateProcessing" => TemplateProcessor.FromJson(json),
            // ByteLevel's post-processing only trims offsets, which we do not report.
            "ByteLevel" => null,
            "Sequence" => new SequenceProcessor(json.ArrayField("processors").Select(item => FromJson(item)).OfType<PostProcessor>().ToArray()),
            "BertProcessing" or "RobertaProcessing" => new TemplateProcessor([
                TemplateProcessor.Piece.Ids(PairId(json, "cls")),
                TemplateProcessor.Piece.Sequence,
                TemplateProcessor.Piece.Ids(PairId(json, "sep")),
            ]),
            _ => throw TokenizerFormatException.Unsupported("post_processor", type),
        };
    }

    /// <summary>Bert/Roberta name their tokens as ["[CLS]", 101].</summary>
    private static int[] PairId(JsonElement json, string name) =>
        json.Field(name) is { ValueKind: JsonValueKind.Array } pair && pair.GetArrayLength() == 2 && pair[1].TryGetInt32(out var id)
            ? [id]
            : throw new TokenizerFormatException($"tokenizer.json: post_processor.{name} is not a [token, id] pair");

    private sealed class SequenceProcessor(PostProcessor[] steps) : PostProcessor
    {
        public override List<int> Process(List<int> ids)
        {
            foreach (var step in steps)
                ids = step.Process(ids);
            return ids;
        }
    }
}

