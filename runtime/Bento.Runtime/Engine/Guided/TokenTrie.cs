using System.Runtime.CompilerServices;
using Bento.Runtime.Tokenization;

namespace Bento.Runtime.Engine.Guided;

/// <summary>
/// The vocabulary as a trie of the bytes each token stands for (byte-level BPE symbols and SentencePiece pieces alike,
/// through the tokenizer's own decoder), so the tokens a grammar state allows are found by walking the trie and the
/// automaton together: a prefix the grammar rejects prunes every token below it. Special tokens are left out; they
/// are never grammar text. Built once per tokenizer.
/// </summary>
internal sealed class TokenTrie
{
    private static readonly ConditionalWeakTable<ITextTokenizer, TokenTrie> Cache = new();

    // Node n's children are Child*[ChildStart[n] .. ChildStart[n + 1]); its tokens TokenIds[TokenStart[n] .. TokenStart[n + 1]).
    public readonly int[] ChildStart;
    public readonly byte[] ChildByte;
    public readonly int[] ChildNode;
    public readonly int[] TokenStart;
    public readonly int[] TokenIds;

    /// <summary>The bytes of every id (null for special or empty tokens).</summary>
    public readonly byte[]?[] Bytes;

    public int VocabSize => Bytes.Length;
    public int NodeCount => ChildStart.Length - 1;

    public static TokenTrie For(ITextTokenizer tokenizer) => Cache.GetValue(tokenizer, t => new TokenTrie(t));

    private TokenTrie(ITextTokenizer tokenizer)
    {
        Bytes = new byte[]?[tokenizer.VocabSize];
        for (var id = 0; id < Bytes.Length; id++)
            if (!tokenizer.IsSpecial(id) && tokenizer.TokenBytes(id) is { Length: > 0 } bytes) Bytes[id] = bytes;

        var order = Enumerable.Range(0, Bytes.Length).Where(id => Bytes[id] is not null).ToArray();
        Array.Sort(order, (a, b) => Bytes[a].AsSpan().SequenceCompareTo(Bytes[b]));

        // Build breadth-first-free: insert sorted tokens into a node list, then lay children out contiguously.
        var children = new List<List<(byte, int)>> { new() };
        var tokens = new List<List<int>> { new() };
        foreach (var id in order)
        {
            var node = 0;
            foreach (var b in Bytes[id]!)
            {
                var list = children[node];
                var next = list.Count > 0 && list[^1].Item1 == b ? list[^1].Item2 : -1; // sorted input: a shared child is the last one
                if (next < 0)
                {
                    next = children.Count;
                    children.Add([]);
                    tokens.Add([]);
                    list.Add((b, next));
                }
                node = next;
            }
            tokens[node].Add(id);
        }
        ChildStart = new int[children.Count + 1];
        TokenStart = new int[children.Count + 1];
        for (var n = 0; n < children.Count; n++)
        {
            ChildStart[n + 1] = ChildStart[n] + children[n].Count;
            TokenStart[n + 1] = TokenStart[n] + tokens[n].Count;
        }
        ChildByte = new byte[ChildStart[^1]];
        ChildNode = new int[ChildStart[^1]];
        TokenIds = new int[TokenStart[^1]];
        for (var n = 0; n < children.Count; n++)
        {
            for (var k = 0; k < children[n].Count; k++)
                (ChildByte[ChildStart[n] + k], ChildNode[ChildStart[n] + k]) = children[n][k];
            tokens[n].CopyTo(TokenIds, TokenStart[n]);
        }
    }
}
