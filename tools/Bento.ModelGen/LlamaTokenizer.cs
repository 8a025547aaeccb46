namespace Bento.ModelGen;

/// <summary>
/// A byte-level BPE plus Llama 3's five special tokens, which take the ids right after the BPE
/// vocabulary (in the order of <see cref="SpecialTokens"/>).
/// </summary>
public sealed class LlamaTokenizer
{
    public const string BeginOfText = "<|begin_of_text|>";
    public const string EndOfText = "<|end_of_text|>";
    public const string StartHeader = "<|start_header_id|>";
    public const string EndHeader = "<|end_header_id|>";
    public const string EndOfTurn = "<|eot_id|>";

    /// <summary>Special tokens in id order.</summary>
    public static readonly IReadOnlyList<string> SpecialTokens = [BeginOfText, EndOfText, StartHeader, EndHeader, EndOfTurn];

    /// <summary>BPE target size that, with the 5 specials, makes the default total vocabulary 512.</summary>
    public const int DefaultBpeVocabSize = 507;

    public LlamaTokenizer(BpeModel bpe, int modelMaxLength)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(modelMaxLength);
        foreach (var special in SpecialTokens)
        {
            if (bpe.TokenToId(special) >= 0)
                throw new ArgumentException($"the BPE vocabulary already contains the special token {special}", nameof(bpe));
        }
        Bpe = bpe;
        ModelMaxLength = modelMaxLength;
    }

    /// <summary>Trains the BPE on <see cref="SyntheticCorpus"/> (seed 42) to
    /// <paramref name="bpeVocabSize"/> entries, or fewer if the corpus runs out of pairs.</summary>
    public static LlamaTokenizer TrainOnSyntheticCorpus(int bpeVocabSize = DefaultBpeVocabSize, int modelMaxLength = 512) =>
        new(ByteLevelBpeTrainer.Train(SyntheticCorpus.Generate(), bpeVocabSize), modelMaxLength);

    public BpeModel Bpe { get; }

    /// <summary>Longest input the model takes (tokenizer_config.json's model_max_length).</summary>
    public int ModelMaxLength { get; }

    /// <summary>BPE tokens plus special tokens: the smallest valid vocab_size for the model.</summary>
    public int TotalVocabSize => Bpe.VocabSize + SpecialTokens.Count;

    public int BeginOfTextId => SpecialTokenId(BeginOfText);
    public int EndOfTextId => SpecialTokenId(EndOfText);
    public int EndOfTurnId => SpecialTokenId(EndOfTurn);

    public int SpecialTokenId(string token)
    {
        for (var i = 0; i < SpecialTokens.Count; i++)
        {
            if (SpecialTokens[i] == token)
                return Bpe.VocabSize + i;
        }
        throw new ArgumentException($"'{token}' is not a special token", nameof(token));
    }

    /// <summary>Token of any id, BPE or special.</summary>
    public string IdToToken(int id) =>
        id >= 0 && id < Bpe.VocabSize ? Bpe.Vocab[id]
        : id >= Bpe.VocabSize && id < TotalVocabSize ? SpecialTokens[id - Bpe.VocabSize]
        : throw new ArgumentOutOfRangeException(nameof(id), id, $"not a token id (0..{TotalVocabSize - 1})");

    /// <summary>Encodes like the tokenizer.json we write: special-token text is matched first, the rest
    /// goes through the BPE, and <paramref name="addBeginOfText"/> prepends &lt;|begin_of_text|&gt; as the
    /// post-processor does.</summary>
    public int[] Encode(string text, bool addBeginOfText = true)
    {
        var ids = new List<int>();
        if (addBeginOfText)
            ids.Add(BeginOfTextId);
        var start = 0;
        while (start < text.Length)
        {
            var (at, special) = FindNextSpecial(text, start);
            if (at < 0)
            {
                ids.AddRange(Bpe.Encode(text[start..]));
                break;
            }
            if (at > start)
                ids.AddRange(Bpe.Encode(text[start..at]));
            ids.Add(SpecialTokenId(special!));
            start = at + special!.Length;
        }
        return ids.ToArray();
    }

    /// <summary>Text of token ids; special tokens are written out unless skipped.</summary>
    public string Decode(IEnumerable<int> ids, bool skipSpecialTokens = false)
    {
        var text = new System.Text.StringBuilder();
        var run = new List<int>();
        foreach (var id in ids)
        {
            if (id < Bpe.VocabSize)
            {
                run.Add(id);
                continue;
            }
            // Decode the BPE run before a special token as one unit, so multi-byte characters split
            // across tokens come out whole.
            text.Append(Bpe.Decode(run));
            run.Clear();
            var token = IdToToken(id);
            if (!skipSpecialTokens)
                text.Append(token);
        }
        text.Append(Bpe.Decode(run));
        return text.ToString();
    }

    private static (int At, string? Token) FindNextSpecial(string text, int start)
    {
        var bestAt = -1;
        string? bestToken = null;
        foreach (var token in SpecialTokens)
        {
            var at = text.IndexOf(token, start, StringComparison.Ordinal);
            if (at >= 0 && (bestAt < 0 || at < bestAt))
            {
                bestAt = at;
                bestToken = token;
            }
        }
        return (bestAt, bestToken);
    }
}
