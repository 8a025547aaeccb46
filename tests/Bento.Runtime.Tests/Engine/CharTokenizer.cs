using Bento.Runtime.Tokenization;

namespace Bento.Runtime.Tests.Engine;

/// <summary>Token i is the character at i in the alphabet: lets scheduler tests reason about text exactly.</summary>
internal sealed class CharTokenizer : ITextTokenizer
{
    public const string Alphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ .\n!";

    public CharTokenizer(params int[] stopIds) => StopTokenIds = stopIds.ToHashSet();

    public int VocabSize => Alphabet.Length;
    public int? BosTokenId => null;
    public IReadOnlySet<int> StopTokenIds { get; }
    public IReadOnlyList<int> Encode(string text, bool addSpecialTokens) => text.Select(c => Alphabet.IndexOf(c)).ToList();
    public string Decode(IReadOnlyList<int> ids, bool skipSpecialTokens = true) =>
        new(ids.Where(i => !(skipSpecialTokens && StopTokenIds.Contains(i))).Select(i => Alphabet[i]).ToArray());
    public bool IsSpecial(int id) => StopTokenIds.Contains(id);
}
