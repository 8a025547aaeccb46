namespace Bento.Runtime.Tokenization;

/// <summary>The tokenizer as the engine and server see it.</summary>
public interface ITextTokenizer
{
    int VocabSize { get; }
    int? BosTokenId { get; }
    /// <summary>Ids that end generation (eos, and e.g. &lt;|eot_id|&gt; from generation_config.json).</summary>
    IReadOnlySet<int> StopTokenIds { get; }
    IReadOnlyList<int> Encode(string text, bool addSpecialTokens);
    string Decode(IReadOnlyList<int> ids, bool skipSpecialTokens = true);
    bool IsSpecial(int id);
}
