namespace Bento.Runtime.Tokenization;

/// <summary>The tokenizer as the engine and server see it.</summary>
public interface ITextTokenizer
{
    int VocabSize { get; }
    int? BosTokenId { get; }
    /// <summary>Ids that end generation (eos, and e.g. &lt;|eot_id|&gt; from generation_config.json).</summary>
    IReadOnlySet<int> StopTokenIds { get; }
    IReadOnlyList<int> Encode(string text, bool addSpecialTokens);

    /// <summary>
    /// Like <see cref="Encode(string, bool)"/>, but may stop once more than <paramref name="stopAfter"/> ids are out: a
    /// result longer than that only says "too long" (its ids are a prefix, without post-processing). Lets the server
    /// refuse an oversized prompt without tokenizing all of it.
    /// </summary>
    IReadOnlyList<int> Encode(string text, bool addSpecialTokens, int stopAfter) => Encode(text, addSpecialTokens);

    /// <summary>
    /// An upper bound on the UTF-8 bytes one token stands for: a prompt of more than max_model_len times this many
    /// bytes cannot fit, whatever its text.
    /// </summary>
    int MaxTokenBytes => int.MaxValue;

    /// <summary>A token's stored text (byte-level symbols for BPE), as transformers' convert_ids_to_tokens; null if unused.</summary>
    string? TokenText(int id) => null;
    string Decode(IReadOnlyList<int> ids, bool skipSpecialTokens = true);

    /// <summary>
    /// The bytes a token adds to the text in the middle of an output (byte-level symbols mapped back, SentencePiece's
    /// ▁ as a space, &lt;0xNN&gt; as its byte), which constrained decoding matches against its grammar; null for
    /// special tokens.
    /// </summary>
    byte[]? TokenBytes(int id) => IsSpecial(id) ? null : System.Text.Encoding.UTF8.GetBytes(Decode([id], skipSpecialTokens: false));
    bool IsSpecial(int id);
}
