using static TorchSharp.torch;

namespace Bento.Runtime.Model;

/// <summary>
/// The fixed shapes of a step's decode part, for a runner that replays one captured graph per batch bucket: the decode
/// rows are padded to <see cref="DecodeBucket"/> rows (token 0 at position 0, writing the scratch block) and every block
/// table to <see cref="BlockColumns"/> entries, so tokens, positions, cache slots, block tables and the attention mask
/// have the same shapes in every step of that bucket whatever the sequences' lengths.
/// </summary>
public sealed record DecodeShape(int DecodeBucket, int BlockColumns, int ScratchBlock);

/// <summary>
/// One forward's worth of work, flattened: the token rows of all sequences in one [N] tensor, decode sequences
/// (one token each) first, then prefill chunks, each sequence's rows contiguous. Holds per row the position and the
/// cache slot (block * BlockSize + offset) its key and value go to, per sequence its block table, the rows whose logits
/// are wanted, and the attention masks (built on demand, per sliding window: null means full attention).
/// </summary>
public sealed class StepBatch : IDisposable
{
    /// <summary>One sequence's rows: <paramref name="Index"/> is its place in the caller's batch.</summary>
    public sealed record Sequence(int Index, int[] Blocks, int Position, int Length, int Row);

    private readonly List<Tensor> _owned = [];
    private readonly Device _device;
    private readonly int _groups;
    private readonly Dictionary<int, Tensor> _decodeMasks = [];
    private readonly Dictionary<(int Sequence, int Window), Tensor> _prefillMasks = [];   // window 0: full attention
    private readonly Dictionary<int, Tensor> _sequenceBlocks = [];
    private Tensor? _slotBlocks, _slotOffsets;

    /// <param name="inputs">Each sequence's place in the caller's batch, block table, first position and tokens.</param>
    /// <param name="shape">Pad the decode part to fixed shapes (a graph runner's bucket); null: no padding.</param>
    public StepBatch(IReadOnlyList<(int Index, int[] Blocks, int Position, ReadOnlyMemory<int> Tokens)> inputs, int keyValueGroups,
        Device? device = null, DecodeShape? shape = null)
    {
        _device = device ?? CPU;
        _groups = keyValueGroups;
        const int B = KvCache.BlockSize;
        // Decode sequences first (batched attention), prefill chunks after (per-sequence attention).
        var decode = inputs.Where(i => i.Tokens.Length == 1).ToList();
        var prefill = inputs.Where(i => i.Tokens.Length != 1).ToList();
        var padding = shape is null ? 0 : shape.DecodeBucket - decode.Count;
        if (padding < 0) throw new ArgumentException($"{decode.Count} decode rows do not fit the bucket of {shape!.DecodeBucket}");
        var n = decode.Count + padding + prefill.Sum(i => i.Tokens.Length);
        var tokens = new long[n];
        var positions = new long[n];
        var slots = new long[n];
        var sequences = new List<Sequence>(inputs.Count);
        var row = 0;
        void Add((int Index, int[] Blocks, int Position, ReadOnlyMemory<int> Tokens) input)
        {
            var span = input.Tokens.Span;
            for (var t = 0; t < span.Length; t++)
            {
                var p = input.Position + t;
                tokens[row + t] = span[t];
                positions[row + t] = p;
                slots[row + t] = (long)input.Blocks[p / B] * B + p % B;
            }
            sequences.Add(new Sequence(input.Index, input.Blocks, input.Position, span.Length, row));
            row += span.Length;
        }
        foreach (var input in decode) Add(input);
        var decodeTables = decode.Select(i => i.Blocks).ToList();
        for (var p = 0; p < padding; p++)
        {
            slots[row] = (long)shape!.ScratchBlock * B;
            decodeTables.Add([shape.ScratchBlock]);
            row++;
        }
        foreach (var input in prefill) Add(input);

        Sequences = sequences;
        RowCount = n;
        DecodeCount = decode.Count;
        DecodeRows = decode.Count + padding;
        DecodeBlockTables = decodeTables;
        PositionValues = positions;
        SlotMapping = slots;
        MaxPosition = n == 0 ? 0 : (int)positions.Max();
        Tokens = Own(tensor(tokens, ScalarType.Int64, _device));
        Positions = Own(tensor(positions, ScalarType.Int64, _device));
        var lastRows = sequences.Select(s => (long)(s.Row + s.Length - 1)).ToArray();
        AllLastRows = padding == 0 && n == sequences.Count;
        LastRows = Own(tensor(lastRows, ScalarType.Int64, _device));

        if (DecodeRows > 0)
        {
            var columns = shape?.BlockColumns ?? DecodeBlockTables.Zip(positions).Max(x => (int)x.Second / B + 1);
            for (var d = 0; d < DecodeRows; d++)
                if ((int)positions[d] / B + 1 > columns)
                    throw new ArgumentException($"decode row {d} needs {(int)positions[d] / B + 1} blocks, more than the {columns} of the shape");
            DecodeBlockColumns = columns;
            _padBlock = shape?.ScratchBlock ?? 0;
        }
    }

    private readonly int _padBlock;
    private Tensor? _decodeBlockTable;

    public IReadOnlyList<Sequence> Sequences { get; }
    /// <summary>Token rows, padding included.</summary>
    public int RowCount { get; }
    /// <summary>Real decode sequences (their rows come first).</summary>
    public int DecodeCount { get; }
    /// <summary>Decode rows including bucket padding.</summary>
    public int DecodeRows { get; }
    public int MaxPosition { get; }
    public Tensor Tokens { get; }
    public Tensor Positions { get; }
    public long[] PositionValues { get; }
    /// <summary>Per row: block * BlockSize + offset, where the row's key and value go.</summary>
    public long[] SlotMapping { get; }
    public Tensor LastRows { get; }
    public bool AllLastRows { get; }

    /// <summary>Per decode row (padding included): its block table.</summary>
    public IReadOnlyList<int[]> DecodeBlockTables { get; }
    /// <summary>[DecodeRows, DecodeBlockColumns] int64: the decode rows' block tables, padded (with the scratch
    /// block, or block 0, whose keys the mask hides); null without decode rows. Built on first use: the managed decode
    /// attention reads <see cref="DecodeBlockTables"/> instead.</summary>
    public Tensor? DecodeBlockTable
    {
        get
        {
            if (DecodeRows == 0 || _decodeBlockTable is not null) return _decodeBlockTable;
            const int B = KvCache.BlockSize;
            var columns = DecodeBlockColumns;
            var table = new long[DecodeRows * columns];
            for (var d = 0; d < DecodeRows; d++)
            {
                var used = (int)PositionValues[d] / B + 1;
                for (var c = 0; c < columns; c++)
                    table[d * columns + c] = c < used ? DecodeBlockTables[d][c] : _padBlock;
            }
            return _decodeBlockTable = Own(tensor(table, [DecodeRows, columns], ScalarType.Int64, _device));
        }
    }
    public int DecodeBlockColumns { get; }

    /// <summary>Per row, the block its key and value go to (for LibTorch's index_put_).</summary>
    public Tensor SlotBlocks => _slotBlocks ??= Own(tensor(SlotMapping.Select(s => s / KvCache.BlockSize).ToArray(), ScalarType.Int64, _device));
    /// <summary>Per row, the offset inside that block.</summary>
    public Tensor SlotOffsets => _slotOffsets ??= Own(tensor(SlotMapping.Select(s => s % KvCache.BlockSize).ToArray(), ScalarType.Int64, _device));

    /// <summary>The blocks holding positions [0, position + length) of prefill sequence <paramref name="s"/>.</summary>
    public Tensor SequenceBlocks(Sequence s)
    {
        if (_sequenceBlocks.TryGetValue(s.Row, out var t)) return t;
        var used = (s.Position + s.Length + KvCache.BlockSize - 1) / KvCache.BlockSize;
        return _sequenceBlocks[s.Row] = Own(tensor(s.Blocks.Take(used).Select(b => (long)b).ToArray(), ScalarType.Int64, _device));
    }

    /// <summary>
    /// [DecodeRows, 1, 1, DecodeBlockColumns * BlockSize] bool, true where decode row d may attend: keys
    /// [first, position_d], first = position_d - window + 1 with a sliding window, else 0.
    /// </summary>
    public Tensor DecodeMask(int? window)
    {
        if (_decodeMasks.TryGetValue(window ?? 0, out var mask)) return mask;
        var keys = DecodeBlockColumns * KvCache.BlockSize;
        var values = new bool[DecodeRows * keys];
        for (var d = 0; d < DecodeRows; d++)
        {
            var (first, last) = KeyRange((int)PositionValues[d], window);
            values.AsSpan(d * keys + first, last - first + 1).Fill(true);
        }
        return _decodeMasks[window ?? 0] = Own(tensor(values, [DecodeRows, 1, 1, keys], device: _device));
    }

    /// <summary>
    /// Causal mask of prefill sequence <paramref name="s"/> against keys [0, position + length), rows repeated for the
    /// query heads sharing a kv head: [groups * length, position + length]; row (group, t) sees keys
    /// [first, position + t] (first from the sliding window, else 0).
    /// </summary>
    public Tensor PrefillMask(Sequence s, int? window)
    {
        if (_prefillMasks.TryGetValue((s.Row, window ?? 0), out var cached)) return cached;
        return _prefillMasks[(s.Row, window ?? 0)] = Own(PrefillMask(s.Position, s.Length, _groups, window, _device));
    }

    /// <inheritdoc cref="PrefillMask(Sequence, int)"/>
    public static Tensor PrefillMask(int position, int length, int groups, int? window = null, Device? device = null)
    {
        var keys = position + length;
        var mask = new bool[length * keys];
        for (var t = 0; t < length; t++)
        {
            var (first, last) = KeyRange(position + t, window);
            mask.AsSpan(t * keys + first, last - first + 1).Fill(true);
        }
        using var one = tensor(mask, [length, keys], device: device ?? CPU);
        return groups == 1 ? one.clone() : one.repeat(groups, 1);
    }

    /// <summary>The keys a query at <paramref name="position"/> sees: all before it, or the last
    /// <paramref name="window"/> (itself included) with a sliding window (position - key &lt; window, the convention of
    /// transformers and llama.cpp).</summary>
    public static (int First, int Last) KeyRange(int position, int? window) =>
        (window is { } w ? Math.Max(0, position - w + 1) : 0, position);

    /// <summary>Keeps <paramref name="t"/> until the batch is disposed. Tensors built on demand are created inside a
    /// layer's dispose scope and must outlive it: they leave every scope and belong to the batch alone.</summary>
    private Tensor Own(Tensor t)
    {
        t.DetachFromDisposeScope();
        _owned.Add(t);
        return t;
    }

    public void Dispose()
    {
        foreach (var t in _owned) t.Dispose();
        _owned.Clear();
    }
}
