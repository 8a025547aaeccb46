using System.Text;

namespace Bento.ModelGen;

/// <summary>
/// A byte-level BPE vocabulary and merge list, with encoding and decoding that follow the tokenizers
/// library's BPE model (GPT-2 pre-tokenisation, then merges by rank inside each piece).
/// </summary>
public sealed class BpeModel
{
    private readonly Dictionary<string, int> _ids;
    private readonly Dictionary<(string, string), int> _ranks;

    /// <param name="vocab">Token of each id; ids 0..255 should be the 256 byte symbols.</param>
    /// <param name="merges">Merges in priority order (earlier = applied first).</param>
    public BpeModel(IReadOnlyList<string> vocab, IReadOnlyList<BpeMerge> merges)
    {
        Vocab = vocab;
        Merges = merges;
        _ids = new Dictionary<string, int>(vocab.Count, StringComparer.Ordinal);
        for (var id = 0; id < vocab.Count; id++)
        {
            if (!_ids.TryAdd(vocab[id], id))
                throw new ArgumentException($"token '{vocab[id]}' appears twice in the vocabulary", nameof(vocab));
        }
        for (var b = 0; b < 256; b++)
        {
            if (!_ids.ContainsKey(ByteToUnicode.Encode((byte)b).ToString()))
                throw new ArgumentException($"the vocabulary lacks the symbol for byte {b}, so some text could not be encoded", nameof(vocab));
        }
        _ranks = new Dictionary<(string, string), int>(merges.Count);
        for (var rank = 0; rank < merges.Count; rank++)
        {
            var merge = merges[rank];
            if (!_ids.ContainsKey(merge.Left) || !_ids.ContainsKey(merge.Right) || !_ids.ContainsKey(merge.Merged))
                throw new ArgumentException($"merge '{merge.Left}' + '{merge.Right}' uses or makes a token not in the vocabulary", nameof(merges));
            _ranks.TryAdd((merge.Left, merge.Right), rank);
        }
    }

    /// <summary>Token string (byte-level symbols) of each id.</summary>
    public IReadOnlyList<string> Vocab { get; }

    /// <summary>Merges in the order they were learned, which is their priority.</summary>
    public IReadOnlyList<BpeMerge> Merges { get; }

    public int VocabSize => Vocab.Count;

    /// <summary>Id of a token, or -1.</summary>
    public int TokenToId(string token) => _ids.GetValueOrDefault(token, -1);

    /// <summary>Token ids of <paramref name="text"/> (no special tokens are recognised here).</summary>
    public int[] Encode(string text)
    {
        var ids = new List<int>();
        foreach (var piece in GptPreTokenizer.Split(text))
        {
            foreach (var symbol in ApplyMerges(ByteToUnicode.Encode(Encoding.UTF8.GetBytes(piece))))
                ids.Add(_ids[symbol]);
        }
        return ids.ToArray();
    }

    /// <summary>Text of BPE token ids; invalid UTF-8 (a character cut between tokens) becomes U+FFFD,
    /// as the ByteLevel decoder does.</summary>
    public string Decode(IEnumerable<int> ids)
    {
        var symbols = new StringBuilder();
        foreach (var id in ids)
        {
            if (id < 0 || id >= Vocab.Count)
                throw new ArgumentOutOfRangeException(nameof(ids), id, $"not a BPE token id (0..{Vocab.Count - 1})");
            symbols.Append(Vocab[id]);
        }
        return Encoding.UTF8.GetString(ByteToUnicode.Decode(symbols.ToString()));
    }

    /// <summary>Merges the symbols of one piece: repeatedly join the adjacent pair with the best
    /// (lowest) rank, everywhere it occurs, until no pair has a rank.</summary>
    private List<string> ApplyMerges(string piece)
    {
        var symbols = piece.Select(c => c.ToString()).ToList();
        while (symbols.Count > 1)
        {
            var bestRank = int.MaxValue;
            (string, string) best = default;
            for (var i = 0; i + 1 < symbols.Count; i++)
            {
                if (_ranks.TryGetValue((symbols[i], symbols[i + 1]), out var rank) && rank < bestRank)
                {
                    bestRank = rank;
                    best = (symbols[i], symbols[i + 1]);
                }
            }
            if (bestRank == int.MaxValue)
                break;

            var merged = new List<string>(symbols.Count);
            for (var i = 0; i < symbols.Count; i++)
            {
                if (i + 1 < symbols.Count && symbols[i] == best.Item1 && symbols[i + 1] == best.Item2)
                {
                    merged.Add(best.Item1 + best.Item2);
                    i++;
                }
                else
                {
                    merged.Add(symbols[i]);
                }
            }
            symbols = merged;
        }
        return symbols;
    }
}
