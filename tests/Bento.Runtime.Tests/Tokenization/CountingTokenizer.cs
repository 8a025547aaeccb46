using Bento.Runtime.Tokenization;

namespace Bento.Runtime.Tests.Tokenization;

/// <summary>Passes everything to another tokenizer and counts what it is asked to decode, so tests can show how
/// decoding cost grows without timing anything.</summary>
internal sealed class CountingTokenizer(ITextTokenizer inner) : ITextTokenizer
{
    public int DecodeCalls { get; private set; }
    public long IdsDecoded { get; private set; }
    public int LongestDecode { get; private set; }

    public int VocabSize => inner.VocabSize;
    public int? BosTokenId => inner.BosTokenId;
    public IReadOnlySet<int> StopTokenIds => inner.StopTokenIds;
    public IReadOnlyList<int> Encode(string text, bool addSpecialTokens) => inner.Encode(text, addSpecialTokens);
    public bool IsSpecial(int id) => inner.IsSpecial(id);

    public string Decode(IReadOnlyList<int> ids, bool skipSpecialTokens = true)
    {
        DecodeCalls++;
        IdsDecoded += ids.Count;
        LongestDecode = Math.Max(LongestDecode, ids.Count);
        return inner.Decode(ids, skipSpecialTokens);
    }
}
