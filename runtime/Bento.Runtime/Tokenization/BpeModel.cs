using System.Text;
using System.Text.Json;

namespace Bento.Runtime.Tokenization;

/// <summary>
/// tokenizer.json's <c>model</c> of type BPE: a vocabulary and a ranked merge list, applied inside each
/// pre-token. Covers byte-level vocabularies (GPT-2, Llama 3) and SentencePiece-converted ones with
/// <c>byte_fallback</c> (Llama 2, Mistral), plus Llama 3's <c>ignore_merges</c>.
/// </summary>
internal sealed class BpeModel
{
    /// <summary>Longer pre-tokens are not memoised: they are rare, and a SentencePiece-style tokenizer
    /// without a pre-tokenizer would otherwise cache whole prompts.</summary>
    private const int MaxCachedWordLength = 256;
    private const int CacheCapacity = 10_000;

    private readonly Dictionary<string, int> _vocab;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _vocabBySpan;
    private readonly string?[] _tokenById;
    /// <summary>Merge of the pair (left id, right id), keyed by <see cref="PairKey"/>.</summary>
    private readonly Dictionary<long, (int Rank, int MergedId)> _merges;
    private readonly int? _unknownId;
    private readonly bool _fuseUnknown;
    private readonly bool _ignoreMerges;
    /// <summary>Ids of the "&lt;0xNN&gt;" tokens by byte value when byte_fallback is on and all 256 exist.</summary>
    private readonly int[]? _byteFallbackIds;
    private readonly BoundedCache<string, int[]> _cache = new(CacheCapacity);

    private BpeModel(Dictionary<string, int> vocab, Dictionary<long, (int, int)> merges, int? unknownId, bool fuseUnknown, bool ignoreMerges, bool byteFallback)
    {
        _vocab = vocab;
        _vocabBySpan = vocab.GetAlternateLookup<ReadOnlySpan<char>>();
        _merges = merges;
        _unknownId = unknownId;
        _fuseUnknown = fuseUnknown;
        _ignoreMerges = ignoreMerges;

        _tokenById = new string?[vocab.Count == 0 ? 0 : vocab.Values.Max() + 1];
        foreach (var (token, id) in vocab)
            _tokenById[id] = token;

        if (byteFallback)
        {
            var ids = new int[256];
            var complete = true;
            for (var b = 0; b < 256 && complete; b++)
                complete = vocab.TryGetValue(ByteFallbackToken((byte)b), out ids[b]);
            _byteFallbackIds = complete ? ids : null;
        }
    }

    /// <summary>Ids 0..<see cref="IdLimit"/>-1 may be vocabulary tokens.</summary>
    public int IdLimit => _tokenById.Length;

    /// <summary>How SentencePiece-converted vocabularies spell a raw byte.</summary>
    public static string ByteFallbackToken(byte value) => $"<0x{value:X2}>";

    public static BpeModel FromJson(JsonElement model)
    {
        var type = model.ComponentType();
        if (type is not null and not "BPE")
            throw TokenizerFormatException.Unsupported("model", type);
        if (!string.IsNullOrEmpty(model.StringField("continuing_subword_prefix")))
            throw new TokenizerFormatException("tokenizer.json: model.continuing_subword_prefix is not supported by the Bento runtime");
        if (!string.IsNullOrEmpty(model.StringField("end_of_word_suffix")))
            throw new TokenizerFormatException("tokenizer.json: model.end_of_word_suffix is not supported by the Bento runtime");
        // dropout is a training-time regulariser; inference must be deterministic, so it is ignored.

        if (model.Field("vocab") is not { ValueKind: JsonValueKind.Object } vocabJson)
            throw new TokenizerFormatException("tokenizer.json: model.vocab is missing");
        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var entry in vocabJson.EnumerateObject())
        {
            if (entry.Value.ValueKind != JsonValueKind.Number || !entry.Value.TryGetInt32(out var id) || id < 0)
                throw new TokenizerFormatException($"tokenizer.json: model.vocab['{entry.Name}'] is not a token id");
            vocab[entry.Name] = id;
        }

        var merges = new Dictionary<long, (int, int)>();
        var rank = 0;
        foreach (var merge in model.ArrayField("merges"))
        {
            var (left, right) = ParseMerge(merge, rank);
            if (!vocab.TryGetValue(left, out var leftId) || !vocab.TryGetValue(right, out var rightId))
                throw new TokenizerFormatException($"tokenizer.json: merge #{rank} '{left}' '{right}' uses a token that is not in the vocabulary");
            if (!vocab.TryGetValue(left + right, out var mergedId))
                throw new TokenizerFormatException($"tokenizer.json: merge #{rank} '{left}' '{right}' makes '{left + right}', which is not in the vocabulary");
            // A repeated pair keeps its first (highest-priority) rank.
            merges.TryAdd(PairKey(leftId, rightId), (rank, mergedId));
            rank++;
        }

        int? unknownId = null;
        if (model.StringField("unk_token") is { } unknown)
        {
            if (!vocab.TryGetValue(unknown, out var id))
                throw new TokenizerFormatException($"tokenizer.json: model.unk_token '{unknown}' is not in the vocabulary");
            unknownId = id;
        }
        return new BpeModel(vocab, merges, unknownId, model.BoolField("fuse_unk", false), model.BoolField("ignore_merges", false), model.BoolField("byte_fallback", false));
    }

    /// <summary>Merges come as "left right" strings (older files, split at the single space) or as
    /// ["left", "right"] pairs (tokenizers 0.20+, which allows spaces inside symbols). Reading only one form
    /// would silently skip every merge and encode one token per byte.</summary>
    private static (string Left, string Right) ParseMerge(JsonElement merge, int rank)
    {
        if (merge.ValueKind == JsonValueKind.String)
        {
            var parts = merge.GetString()!.Split(' ');
            if (parts.Length == 2)
                return (parts[0], parts[1]);
        }
        else if (merge.ValueKind == JsonValueKind.Array && merge.GetArrayLength() == 2
                 && merge[0].ValueKind == JsonValueKind.String && merge[1].ValueKind == JsonValueKind.String)
        {
            return (merge[0].GetString()!, merge[1].GetString()!);
        }
        throw new TokenizerFormatException($"tokenizer.json: merge #{rank} is neither \"left right\" nor [\"left\", \"right\"]: {merge.GetRawText()}");
    }

    public string? IdToToken(int id) => id >= 0 && id < _tokenById.Length ? _tokenById[id] : null;

    public int? TokenToId(string token) => _vocab.TryGetValue(token, out var id) ? id : null;

    /// <summary>Appends the ids of one pre-token.</summary>
    public void Encode(string word, List<int> output)
    {
        if (word.Length == 0)
            return;
        var cacheable = word.Length < MaxCachedWordLength;
        if (cacheable && _cache.TryGet(word, out var cached))
        {
            output.AddRange(cached);
            return;
        }
        var ids = EncodeWord(word);
        if (cacheable)
            _cache.TryAdd(word, ids);
        output.AddRange(ids);
    }

    private int[] EncodeWord(string word)
    {
        // Llama 3: a pre-token that is itself a token is emitted whole, even if the merges would not build it.
        if (_ignoreMerges && _vocab.TryGetValue(word, out var wholeId))
            return [wholeId];

        var symbols = InitialSymbols(word);
        return symbols.Count < 2 ? symbols.ToArray() : ApplyMerges(symbols);
    }

    /// <summary>One symbol per Unicode scalar; characters missing from the vocabulary become their UTF-8
    /// byte tokens (byte_fallback), else the unknown token, else are dropped, as the reference does.</summary>
    private List<int> InitialSymbols(string word)
    {
        var symbols = new List<int>(word.Length);
        var previousWasUnknown = false;
        Span<byte> utf8 = stackalloc byte[4];
        var i = 0;
        while (i < word.Length)
        {
            var length = char.IsHighSurrogate(word[i]) && i + 1 < word.Length && char.IsLowSurrogate(word[i + 1]) ? 2 : 1;
            var scalar = word.AsSpan(i, length);
            i += length;

            if (_vocabBySpan.TryGetValue(scalar, out var id))
            {
                symbols.Add(id);
                previousWasUnknown = false;
                continue;
            }
            if (_byteFallbackIds is not null)
            {
                var byteCount = Encoding.UTF8.GetBytes(scalar, utf8);
                for (var b = 0; b < byteCount; b++)
                    symbols.Add(_byteFallbackIds[utf8[b]]);
                previousWasUnknown = false;
                continue;
            }
            if (_unknownId is { } unknown)
            {
                if (!(_fuseUnknown && previousWasUnknown))
                    symbols.Add(unknown);
                previousWasUnknown = true;
            }
        }
        return symbols;
    }

    /// <summary>Repeatedly merges the adjacent pair with the lowest rank (leftmost on ties) until no pair
    /// has a merge. A heap of candidate pairs over a linked list of symbols keeps this O(n log n), so a
    /// long pre-token (SentencePiece-style tokenizers treat a whole run of text as one) stays cheap.</summary>
    private int[] ApplyMerges(List<int> initial)
    {
        var count = initial.Count;
        var symbol = initial.ToArray();   // -1 once merged into its left neighbour
        var previous = new int[count];
        var next = new int[count];
        for (var i = 0; i < count; i++)
        {
            previous[i] = i - 1;
            next[i] = i + 1;
        }

        var candidates = new PriorityQueue<(int Left, int Right), long>();
        for (var i = 0; i + 1 < count; i++)
            Consider(i, i + 1);

        while (candidates.TryDequeue(out var pair, out var priority))
        {
            var (left, right) = pair;
            // Skip entries made stale by earlier merges.
            if (symbol[left] < 0 || symbol[right] < 0 || next[left] != right)
                continue;
            if (!_merges.TryGetValue(PairKey(symbol[left], symbol[right]), out var merge) || merge.Rank != (int)(priority >> 32))
                continue;

            symbol[left] = merge.MergedId;
            symbol[right] = -1;
            next[left] = next[right];
            if (next[right] < count)
                previous[next[right]] = left;
            if (previous[left] >= 0)
                Consider(previous[left], left);
            if (next[left] < count)
                Consider(left, next[left]);
        }

        var result = new List<int>(count);
        for (var i = 0; i < count; i = next[i])
            result.Add(symbol[i]);
        return result.ToArray();

        void Consider(int left, int right)
        {
            if (_merges.TryGetValue(PairKey(symbol[left], symbol[right]), out var merge))
                candidates.Enqueue((left, right), ((long)merge.Rank << 32) | (uint)left);
        }
    }

    private static long PairKey(int left, int right) => ((long)left << 32) | (uint)right;
}
