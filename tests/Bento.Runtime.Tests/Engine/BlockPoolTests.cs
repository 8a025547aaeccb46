using Bento.Runtime.Engine;

namespace Bento.Runtime.Tests.Engine;

/// <summary>The block allocator, the chained block hashes and the prefix cache's eviction order, as pure bookkeeping.</summary>
public sealed class BlockPoolTests
{
    private const int B = KvCacheManager.BlockSize;

    private static int[] Tokens(int count, int seed = 0) => Enumerable.Range(0, count).Select(i => (i * 7 + seed) % 500).ToArray();

    [Fact]
    public void Allocation_hands_out_distinct_blocks_and_refuses_more_than_are_free()
    {
        var pool = new BlockPool(4);
        var taken = new List<int>();
        pool.Allocate(3, taken);
        Assert.Equal(3, taken.Distinct().Count());
        Assert.All(taken, b => Assert.Equal(1, pool.RefCount(b)));
        Assert.Equal(1, pool.Free);
        Assert.Throws<InvalidOperationException>(() => pool.Allocate(2, taken));
        pool.Release(taken);
        Assert.Equal(4, pool.Free);
        Assert.Throws<InvalidOperationException>(() => pool.Release([taken[0]]));
    }

    [Fact]
    public void Block_hashes_chain_so_equal_hashes_mean_equal_prefixes()
    {
        var a = Tokens(B);
        var b = Tokens(B, seed: 1);
        var first = BlockHash.Of(null, a);
        Assert.Equal(first, BlockHash.Of(null, a));
        Assert.NotEqual(first, BlockHash.Of(null, b));
        // The same tokens after a different prefix are a different block: its keys and values differ.
        Assert.NotEqual(BlockHash.Of(first, a), BlockHash.Of(BlockHash.Of(null, b), a));
        Assert.NotEqual(BlockHash.Of(first, a), BlockHash.Of(null, a));
        // One token changed anywhere changes the hash.
        var c = (int[])a.Clone();
        c[B - 1]++;
        Assert.NotEqual(first, BlockHash.Of(null, c));
    }

    [Fact]
    public void A_second_sequence_finds_the_full_blocks_of_a_shared_prefix_and_computes_the_rest()
    {
        var kv = new KvCacheManager(16);
        var promptA = Tokens(3 * B + 5);
        var a = new SequenceBlocks();
        Assert.Equal(0, kv.MatchPrefix(a, promptA));
        Assert.True(kv.TryAdmit(a, 0, promptA.Length, reserve: 0));
        Assert.Equal(4, a.Table.Count);
        kv.Commit(a, promptA, promptA.Length);                      // three full blocks registered

        // B shares A's first 40 tokens: two full blocks, then differs inside the third.
        var promptB = promptA.Take(40).Concat(Tokens(20, seed: 3)).ToArray();
        var b = new SequenceBlocks();
        var matched = kv.MatchPrefix(b, promptB);
        Assert.Equal(2, matched);
        Assert.True(kv.TryAdmit(b, matched, promptB.Length, reserve: 0));
        Assert.Equal(a.Table.Take(2), b.Table.Take(2));
        Assert.Equal(2, kv.Pool.RefCount(a.Table[0]));
        Assert.DoesNotContain(a.Table[2], b.Table);
        Assert.Equal(4 + 2, kv.UsedBlocks);                         // 4 of A, 2 new of B (60 tokens = 4 blocks, 2 shared)
    }

    [Fact]
    public void A_fully_cached_prompt_still_computes_its_last_token()
    {
        var kv = new KvCacheManager(8);
        var prompt = Tokens(3 * B);
        var a = new SequenceBlocks();
        kv.TryAdmit(a, 0, prompt.Length, 0);
        kv.Commit(a, prompt, prompt.Length);
        var b = new SequenceBlocks();
        Assert.Equal(2, kv.MatchPrefix(b, prompt));                  // (48 - 1) / 16: the third block is recomputed
    }

    [Fact]
    public void Freed_cached_blocks_stay_findable_until_evicted_least_recently_used_first_and_tails_before_prefixes()
    {
        var kv = new KvCacheManager(5);
        var prompt = Tokens(3 * B + 1);
        var a = new SequenceBlocks();
        Assert.True(kv.TryAdmit(a, 0, prompt.Length, 0));           // 4 blocks: 3 full + 1 partial
        kv.Commit(a, prompt, prompt.Length);
        var hashes = a.Hashes.ToList();
        var partial = a.Table[3];
        kv.Release(a);
        Assert.Equal(5, kv.FreeBlocks);                              // cached blocks count as free ...
        Assert.Equal(3, kv.Pool.Cached);                             // ... and are still findable
        Assert.Equal(0, kv.Usage);

        // The block that holds nothing reusable goes first, then the never used one; the cache survives.
        var taken = new List<int>();
        kv.Pool.Allocate(2, taken);
        Assert.Contains(partial, taken);
        Assert.All(hashes, h => Assert.NotNull(kv.Pool.Find(h)));
        // Then the cached blocks, the sequence's last before its first: the shared prefix outlives its continuation.
        kv.Pool.Allocate(1, taken);
        Assert.Null(kv.Pool.Find(hashes[2]));
        Assert.NotNull(kv.Pool.Find(hashes[0]));
        Assert.NotNull(kv.Pool.Find(hashes[1]));

        // A hit takes a free cached block back out of the free queue.
        var b = new SequenceBlocks();
        Assert.Equal(2, kv.MatchPrefix(b, prompt));
        Assert.True(kv.TryAdmit(b, 2, 2 * B, 0));
        Assert.Equal(0, kv.FreeBlocks);
        Assert.Equal(1, kv.Pool.RefCount(b.Table[0]));
    }

    [Fact]
    public void The_same_block_computed_twice_keeps_the_first_copy_findable()
    {
        var kv = new KvCacheManager(8);
        var prompt = Tokens(B + 3);
        var a = new SequenceBlocks();
        var b = new SequenceBlocks();
        kv.TryAdmit(a, 0, prompt.Length, 0);
        kv.TryAdmit(b, 0, prompt.Length, 0);                           // both computing the same prefix at once
        kv.Commit(a, prompt, prompt.Length);
        kv.Commit(b, prompt, prompt.Length);
        Assert.Equal(a.Table[0], kv.Pool.Find(a.Hashes[0]));
        Assert.Null(kv.Pool.HashOf(b.Table[0]));
        kv.Release(b);
        kv.Release(a);
        Assert.Equal(1, kv.Pool.Cached);
    }

    [Fact]
    public void Admission_that_would_eat_into_the_reserve_changes_nothing()
    {
        var kv = new KvCacheManager(4);
        var s = new SequenceBlocks();
        Assert.False(kv.TryAdmit(s, 0, 4 * B, reserve: 1));
        Assert.Empty(s.Table);
        Assert.Equal(4, kv.FreeBlocks);
        Assert.True(kv.TryAdmit(s, 0, 3 * B, reserve: 1));
        Assert.False(kv.TryGrow(s, 5 * B));
        Assert.Equal(3, s.Table.Count);
        Assert.True(kv.TryGrow(s, 4 * B));
        Assert.Equal(1.0, kv.Usage);
    }
}
