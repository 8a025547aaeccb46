namespace Bento.Runtime.Engine;

/// <summary>
/// The KV cache's blocks as the scheduler sees them (vLLM's block pool): each block has a reference count (the
/// sequences whose block tables list it) and, once full and computed, a <see cref="BlockHash"/> under which later
/// sequences with the same prefix find it. Blocks nobody references are free; the free ones form one queue in
/// eviction order: a block that holds nothing reusable is handed out first, then cached blocks least recently freed
/// first. A freed cached block therefore keeps its contents (and stays findable) until the pool needs it, and a
/// prefix hit takes it back out of the queue.
/// </summary>
public sealed class BlockPool
{
    private sealed class Block(int id)
    {
        public readonly int Id = id;
        public int RefCount;
        public BlockHash? Hash;
        public LinkedListNode<Block>? FreeNode;
    }

    private readonly Block[] _blocks;
    private readonly LinkedList<Block> _free = new();
    private readonly Dictionary<BlockHash, Block> _cached = [];

    public BlockPool(int blocks)
    {
        if (blocks <= 0) throw new ArgumentOutOfRangeException(nameof(blocks), "the pool needs at least one block");
        _blocks = new Block[blocks];
        for (var i = 0; i < blocks; i++)
        {
            _blocks[i] = new Block(i);
            _blocks[i].FreeNode = _free.AddLast(_blocks[i]);
        }
    }

    public int Total => _blocks.Length;
    /// <summary>Blocks no sequence references (cached ones included: they can be evicted).</summary>
    public int Free => _free.Count;
    public int Used => Total - Free;
    /// <summary>Blocks findable by hash (referenced or not).</summary>
    public int Cached => _cached.Count;

    public int RefCount(int block) => _blocks[block].RefCount;
    public BlockHash? HashOf(int block) => _blocks[block].Hash;

    /// <summary>The cached block with this hash, or null; does not take a reference.</summary>
    public int? Find(BlockHash hash) => _cached.TryGetValue(hash, out var b) ? b.Id : null;

    /// <summary>Whether <paramref name="block"/> is free now (so that referencing it takes it off the free queue).</summary>
    public bool IsFree(int block) => _blocks[block].RefCount == 0;

    /// <summary>Takes a reference to a block found by <see cref="Find"/> (a prefix hit).</summary>
    public void Touch(int block)
    {
        var b = _blocks[block];
        if (b.RefCount++ == 0)
        {
            _free.Remove(b.FreeNode!);
            b.FreeNode = null;
        }
    }

    /// <summary>
    /// Hands out <paramref name="count"/> free blocks (reference count 1) into <paramref name="into"/>, evicting the
    /// cached contents of any it takes. The caller checks <see cref="Free"/> first.
    /// </summary>
    public void Allocate(int count, List<int> into)
    {
        if (count > _free.Count) throw new InvalidOperationException($"{count} blocks asked for, {_free.Count} free");
        for (var i = 0; i < count; i++)
        {
            var b = _free.First!.Value;
            _free.RemoveFirst();
            b.FreeNode = null;
            if (b.Hash is { } h)
            {
                _cached.Remove(h);
                b.Hash = null;
            }
            b.RefCount = 1;
            into.Add(b.Id);
        }
    }

    /// <summary>
    /// Drops one reference to each of a sequence's blocks. A block nobody references becomes free: a cached one at the
    /// tail of the queue (evicted last), the sequence's later blocks before its earlier ones (a prefix outlives its
    /// continuation, as more requests share it); one that holds nothing reusable at the head.
    /// </summary>
    public void Release(IReadOnlyList<int> blocks)
    {
        for (var i = blocks.Count - 1; i >= 0; i--)
        {
            var b = _blocks[blocks[i]];
            if (b.RefCount <= 0) throw new InvalidOperationException($"block {b.Id} released more often than referenced");
            if (--b.RefCount > 0) continue;
            b.FreeNode = b.Hash is null ? _free.AddFirst(b) : _free.AddLast(b);
        }
    }

    /// <summary>
    /// Registers a full, computed block under <paramref name="hash"/>. When another block already holds the same
    /// contents (two sequences computed the same prefix at once) the first stays the one found; this one remains a
    /// private copy. Returns whether the block is now findable under the hash.
    /// </summary>
    public bool Cache(int block, BlockHash hash)
    {
        var b = _blocks[block];
        if (b.Hash is not null) return b.Hash == hash;
        if (_cached.ContainsKey(hash)) return false;
        b.Hash = hash;
        _cached[hash] = b;
        return true;
    }
}
