using Bento.Runtime.Model;

namespace Bento.Runtime.Engine;

/// <summary>A sequence's share of the paged KV cache: its block table and the hashes of its full blocks.</summary>
public sealed class SequenceBlocks
{
    /// <summary>Block ids: position p lives in Table[p / BlockSize].</summary>
    public List<int> Table { get; } = [];
    /// <summary>Hashes of the sequence's full blocks of tokens, in order (computed as tokens become known).</summary>
    public List<BlockHash> Hashes { get; } = [];
    /// <summary>Leading blocks already registered in (or found in) the prefix cache.</summary>
    public int Registered { get; set; }
}

/// <summary>
/// The scheduler's view of the paged KV cache (vLLM's KV-cache manager): finds the longest cached prefix of a
/// sequence, allocates the blocks its next tokens need, registers blocks as they fill, and releases a sequence's blocks
/// when it finishes, is cancelled or is preempted. Pure bookkeeping over a <see cref="BlockPool"/>; the runner holds the
/// data.
/// </summary>
public sealed class KvCacheManager
{
    public const int BlockSize = KvCache.BlockSize;
    private readonly BlockPool _pool;

    public KvCacheManager(int blocks) => _pool = new BlockPool(blocks);

    public BlockPool Pool => _pool;
    public int TotalBlocks => _pool.Total;
    public int FreeBlocks => _pool.Free;
    public int UsedBlocks => _pool.Used;
    /// <summary>Share of blocks referenced by sequences (vLLM's kv_cache_usage_perc): cached but unreferenced blocks
    /// count as free, since the pool reclaims them on demand.</summary>
    public double Usage => (double)_pool.Used / _pool.Total;

    public static int BlocksFor(int tokens) => (tokens + BlockSize - 1) / BlockSize;

    /// <summary>Extends <paramref name="s"/>'s hashes to every full block of <paramref name="tokens"/>.</summary>
    public static void EnsureHashes(SequenceBlocks s, IReadOnlyList<int> tokens)
    {
        var full = tokens.Count / BlockSize;
        Span<int> block = stackalloc int[BlockSize];
        for (var i = s.Hashes.Count; i < full; i++)
        {
            for (var t = 0; t < BlockSize; t++) block[t] = tokens[i * BlockSize + t];
            s.Hashes.Add(BlockHash.Of(i == 0 ? null : s.Hashes[i - 1], block));
        }
    }

    /// <summary>
    /// How many leading full blocks of <paramref name="tokens"/> the cache holds. At most (tokens - 1) / BlockSize: the
    /// last token is always computed, since its logits are what the step is for.
    /// </summary>
    public int MatchPrefix(SequenceBlocks s, IReadOnlyList<int> tokens)
    {
        EnsureHashes(s, tokens);
        var limit = (tokens.Count - 1) / BlockSize;
        var matched = 0;
        while (matched < limit && _pool.Find(s.Hashes[matched]) is not null) matched++;
        return matched;
    }

    /// <summary>
    /// Gives a sequence with an empty table its first <paramref name="matched"/> blocks from the prefix cache and new
    /// blocks for positions up to <paramref name="tokensAfter"/>, if that leaves at least <paramref name="reserve"/>
    /// blocks free; otherwise changes nothing and returns false.
    /// </summary>
    public bool TryAdmit(SequenceBlocks s, int matched, int tokensAfter, int reserve)
    {
        if (s.Table.Count != 0) throw new InvalidOperationException("the sequence already holds blocks");
        var hits = new int[matched];
        var freeHits = 0;
        for (var i = 0; i < matched; i++)
        {
            hits[i] = _pool.Find(s.Hashes[i]) ?? throw new InvalidOperationException("a matched block was evicted");
            if (_pool.IsFree(hits[i])) freeHits++;
        }
        var needed = Math.Max(0, BlocksFor(tokensAfter) - matched);
        if (_pool.Free - freeHits - needed < reserve) return false;
        foreach (var b in hits)
        {
            _pool.Touch(b);
            s.Table.Add(b);
        }
        s.Registered = matched;
        _pool.Allocate(needed, s.Table);
        return true;
    }

    /// <summary>Adds blocks so the table covers <paramref name="tokensAfter"/> positions; false (nothing taken) when too few are free.</summary>
    public bool TryGrow(SequenceBlocks s, int tokensAfter)
    {
        var needed = BlocksFor(tokensAfter) - s.Table.Count;
        if (needed <= 0) return true;
        if (needed > _pool.Free) return false;
        _pool.Allocate(needed, s.Table);
        return true;
    }

    /// <summary>Registers the blocks that <paramref name="computed"/> tokens have filled since the last call.</summary>
    public void Commit(SequenceBlocks s, IReadOnlyList<int> tokens, int computed)
    {
        var full = computed / BlockSize;
        if (full <= s.Registered) return;
        EnsureHashes(s, tokens);
        for (var i = s.Registered; i < full; i++) _pool.Cache(s.Table[i], s.Hashes[i]);
        s.Registered = full;
    }

    /// <summary>Releases every block of the sequence (it keeps its hashes: they depend only on its tokens).</summary>
    public void Release(SequenceBlocks s)
    {
        _pool.Release(s.Table);
        s.Table.Clear();
        s.Registered = 0;
    }
}
