using System.Text;

namespace Bento.ModelGen;

/// <summary>
/// Learns a byte-level BPE (GPT-2 / Llama 3 style) from text, deterministically.
/// </summary>
/// <remarks>
/// The vocabulary starts with the 256 byte symbols in byte order (ids 0..255). Each step merges the
/// most frequent adjacent symbol pair inside the pre-tokenised pieces; ties go to the ordinally smaller
/// pair (left symbol first, then right), so the result never depends on hash or dictionary order.
/// Training stops at the target vocabulary size, or earlier when no pair is left to merge.
/// </remarks>
public static class ByteLevelBpeTrainer
{
    public static BpeModel Train(string corpus, int targetVocabSize)
    {
        if (targetVocabSize < 256)
            throw new ArgumentOutOfRangeException(nameof(targetVocabSize), targetVocabSize, "a byte-level vocabulary has at least the 256 byte symbols");

        var vocab = Enumerable.Range(0, 256).Select(b => ByteToUnicode.Encode((byte)b).ToString()).ToList();
        var ids = vocab.Select((token, id) => (token, id)).ToDictionary(x => x.token, x => x.id, StringComparer.Ordinal);

        // Each distinct piece is trained once, weighted by how often it occurs.
        var pieceCounts = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var piece in GptPreTokenizer.Split(corpus))
            pieceCounts[piece] = pieceCounts.GetValueOrDefault(piece) + 1;
        var words = pieceCounts
            .OrderBy(kv => kv.Key, StringComparer.Ordinal)
            .Select(kv => new Word(ByteToUnicode.Encode(Encoding.UTF8.GetBytes(kv.Key)).Select(c => ids[c.ToString()]).ToList(), kv.Value))
            .ToList();

        var merges = new List<BpeMerge>();
        while (vocab.Count < targetVocabSize)
        {
            var pairCounts = CountPairs(words);
            if (pairCounts.Count == 0)
                break;

            var (left, right) = PickBest(pairCounts, vocab);
            var merge = new BpeMerge(vocab[left], vocab[right]);
            // Two different pairs can spell the same token ("a"+"bc", "ab"+"c"); the token keeps one id.
            if (!ids.TryGetValue(merge.Merged, out var mergedId))
            {
                mergedId = vocab.Count;
                vocab.Add(merge.Merged);
                ids.Add(merge.Merged, mergedId);
            }
            merges.Add(merge);
            foreach (var word in words)
                word.Replace(left, right, mergedId);
        }
        return new BpeModel(vocab, merges);
    }

    private static Dictionary<(int, int), long> CountPairs(List<Word> words)
    {
        var counts = new Dictionary<(int, int), long>();
        foreach (var word in words)
        {
            var symbols = word.Symbols;
            for (var i = 0; i + 1 < symbols.Count; i++)
            {
                var pair = (symbols[i], symbols[i + 1]);
                counts[pair] = counts.GetValueOrDefault(pair) + word.Count;
            }
        }
        return counts;
    }

    private static (int, int) PickBest(Dictionary<(int, int), long> pairCounts, List<string> vocab)
    {
        (int, int) best = default;
        long bestCount = -1;
        foreach (var (pair, count) in pairCounts)
        {
            if (count > bestCount || (count == bestCount && ComparePairs(pair, best, vocab) < 0))
            {
                best = pair;
                bestCount = count;
            }
        }
        return best;
    }

    private static int ComparePairs((int Left, int Right) a, (int Left, int Right) b, List<string> vocab)
    {
        var byLeft = string.CompareOrdinal(vocab[a.Left], vocab[b.Left]);
        return byLeft != 0 ? byLeft : string.CompareOrdinal(vocab[a.Right], vocab[b.Right]);
    }

    /// <summary>A distinct pre-tokenised piece as symbol ids, and its number of occurrences.</summary>
    private sealed class Word(List<int> symbols, long count)
    {
        public List<int> Symbols { get; private set; } = symbols;
        public long Count { get; } = count;

        /// <summary>Joins every non-overlapping (left, right) occurrence, scanning left to right.</summary>
        public void Replace(int left, int right, int merged)
        {
            if (Symbols.Count < 2)
                return;
            var result = new List<int>(Symbols.Count);
            for (var i = 0; i < Symbols.Count; i++)
            {
                if (i + 1 < Symbols.Count && Symbols[i] == left && Symbols[i + 1] == right)
                {
                    result.Add(merged);
                    i++;
                }
                else
                {
                    result.Add(Symbols[i]);
                }
            }
            Symbols = result;
        }
    }
}
