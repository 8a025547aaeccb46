using static TorchSharp.torch;

namespace Bento.Runtime.Model;

/// <summary>
/// One forward's worth of work, flattened: the token rows of all sequences in one [N] tensor, decode sequences
/// (one token each) first, then prefill chunks, each sequence's rows contiguous. Holds the per-row positions and
/// slots (where keys/values go in the cache), the rows whose logits are wanted, and the attention masks.
/// </summary>
public sealed class StepBatch : IDisposable
{
    /// <summary>One sequence's rows: <paramref name="Index"/> is its place in the caller's batch.</summary>
    public sealed record Sequence(int Index, int Slot, int Position, int Length, int Row, Tensor? Mask);

    private readonly List<IDisposable> _owned = [];
    private readonly int _keyValueGroups;

    // Masks of sliding-window layers, built on first use: by window for the decode rows, by (sequence, window) for prefill.
    private readonly Dictionary<int, Tensor?> _windowedDecodeMasks = [];
    private readonly Dictionary<(int Row, int Window), Tensor> _windowedPrefillMasks = [];

    public StepBatch(IReadOnlyList<(int Index, int Slot, int Position, ReadOnlyMemory<int> Tokens)> inputs, int keyValueGroups)
    {
        _keyValueGroups = keyValueGroups;
        // Decode sequences first (batched attention), prefill chunks after (per-sequence attention).
        var ordered = inputs.Where(i => i.Tokens.Length == 1).Concat(inputs.Where(i => i.Tokens.Length != 1)).ToList();
        var n = ordered.Sum(i => i.Tokens.Length);
        var tokens = new long[n];
        var positions = new long[n];
        var slots = new long[n];
        var sequences = new List<Sequence>(ordered.Count);
        var lastRows = new long[ordered.Count];
        var row = 0;
        foreach (var input in ordered)
        {
            var span = input.Tokens.Span;
            for (var t = 0; t < span.Length; t++)
            {
                tokens[row + t] = span[t];
                positions[row + t] = input.Position + t;
                slots[row + t] = input.Slot;
            }
            Tensor? mask = null;
            if (span.Length > 1)
                mask = Own(PrefillMask(input.Position, span.Length, keyValueGroups));
            lastRows[sequences.Count] = row + span.Length - 1;
            sequences.Add(new Sequence(input.Index, input.Slot, input.Position, span.Length, row, mask));
            row += span.Length;
        }
        Sequences = sequences;
        RowCount = n;
        DecodeCount = ordered.TakeWhile(i => i.Tokens.Length == 1).Count();
        PositionValues = positions;
        SlotValues = slots;
        Tokens = Own(tensor(tokens, ScalarType.Int64));
        Positions = Own(tensor(positions, ScalarType.Int64));
        Slots = Own(tensor(slots, ScalarType.Int64));
        AllLastRows = n == sequences.Count;
        LastRows = Own(tensor(lastRows, ScalarType.Int64));

        if (DecodeCount > 0)
        {
            var decode = sequences.Take(DecodeCount).ToList();
            DecodeKeyLength = decode.Max(s => s.Position) + 1;
            var contiguous = decode.Select((s, i) => s.Slot - i).Distinct().Count() == 1;
            DecodeSlotStart = contiguous ? decode[0].Slot : -1;
            DecodeSlots = Own(tensor(decode.Select(s => (long)s.Slot).ToArray(), ScalarType.Int64));
            // Padding mask over the gathered cache: row d may see keys [0, position_d].
            if (decode.Any(s => s.Position + 1 != DecodeKeyLength))
            {
                var mask = new bool[DecodeCount * DecodeKeyLength];
                for (var d = 0; d < DecodeCount; d++)
                    mask.AsSpan(d * DecodeKeyLength, decode[d].Position + 1).Fill(true);
                DecodeMask = Own(tensor(mask, [DecodeCount, 1, 1, DecodeKeyLength]));
            }
        }
    }

    public IReadOnlyList<Sequence> Sequences { get; }
    public int RowCount { get; }
    public int DecodeCount { get; }
    public Tensor Tokens { get; }
    public Tensor Positions { get; }
    public Tensor Slots { get; }
    public long[] PositionValues { get; }
    public long[] SlotValues { get; }
    public Tensor LastRows { get; }
    public bool AllLastRows { get; }

    /// <summary>Keys the decode rows attend over: [0, max position + 1).</summary>
    public int DecodeKeyLength { get; }

    /// <summary>First slot when the decode sequences occupy consecutive slots in order (the cache is then a view,
    /// not a gather); -1 otherwise.</summary>
    public int DecodeSlotStart { get; } = -1;

    public Tensor? DecodeSlots { get; }

    /// <summary>[D,1,1,S] bool, true where a decode row may attend; null when no row needs padding.</summary>
    public Tensor? DecodeMask { get; }

    /// <summary>
    /// The decode rows' mask for a layer with a sliding <paramref name="window"/> ([D,1,1,S], row d sees keys
    /// (position_d - window, position_d]); <see cref="DecodeMask"/> for full attention. Null when nothing is masked.
    /// </summary>
    public Tensor? DecodeMaskFor(int? window)
    {
        if (window is not { } w || DecodeCount == 0 || Sequences.Take(DecodeCount).All(s => s.Position < w)) return DecodeMask;
        if (_windowedDecodeMasks.TryGetValue(w, out var cached)) return cached;
        var mask = new bool[DecodeCount * DecodeKeyLength];
        for (var d = 0; d < DecodeCount; d++)
        {
            var position = Sequences[d].Position;
            var first = Math.Max(0, position - w + 1);
            mask.AsSpan(d * DecodeKeyLength + first, position + 1 - first).Fill(true);
        }
        // Built on first use, inside some layer's dispose scope: detached, so the next layers can use it too.
        return _windowedDecodeMasks[w] = Own(tensor(mask, [DecodeCount, 1, 1, DecodeKeyLength]).DetachFromDisposeScope());
    }

    /// <summary>A prefill chunk's mask for a layer with a sliding <paramref name="window"/> (see <see cref="PrefillMask"/>);
    /// its causal <see cref="Sequence.Mask"/> for full attention.</summary>
    public Tensor PrefillMaskFor(Sequence s, int? window)
    {
        if (window is not { } w || s.Position + s.Length <= w) return s.Mask ?? throw new InvalidOperationException("a decode row has no prefill mask");
        if (_windowedPrefillMasks.TryGetValue((s.Row, w), out var cached)) return cached;
        return _windowedPrefillMasks[(s.Row, w)] = Own(PrefillMask(s.Position, s.Length, _keyValueGroups, w).DetachFromDisposeScope());
    }

    /// <summary>
    /// Causal mask of a prefill chunk of <paramref name="length"/> tokens starting at <paramref name="position"/>
    /// against keys [0, position + length), with rows repeated for the query heads sharing a kv head:
    /// [groups * length, position + length], row (group, t) sees keys 0..position + t - or, with a sliding
    /// <paramref name="window"/>, only the last <paramref name="window"/> of them (position + t - key &lt; window, the
    /// convention of transformers and llama.cpp).
    /// </summary>
    public static Tensor PrefillMask(int position, int length, int groups, int? window = null)
    {
        var keys = position + length;
        var mask = new bool[length * keys];
        for (var t = 0; t < length; t++)
        {
            var first = window is { } w ? Math.Max(0, position + t - w + 1) : 0;
            mask.AsSpan(t * keys + first, position + t + 1 - first).Fill(true);
        }
        using var one = tensor(mask, [length, keys]);
        return groups == 1 ? one.clone() : one.repeat(groups, 1);
    }

    private T Own<T>(T t) where T : IDisposable
    {
        _owned.Add(t);
        return t;
    }

    public void Dispose()
    {
        foreach (var t in _owned) t.Dispose();
        _owned.Clear();
    }
}

/// <summary>
/// The preallocated KV cache: per layer, keys and values of [slots, kv_heads, max_seq_len, head_dim]. A slot is one
/// sequence; positions are written in place, never moved.
/// </summary>
public sealed class KvCache : IDisposable
{
    private readonly Tensor[] _keys, _values;

    public KvCache(ModelConfig config, int slots, int maxSequenceLength, ScalarType dtype)
    {
        Slots = slots;
        MaxSequenceLength = maxSequenceLength;
        long[] shape = [slots, config.NumKeyValueHeads, maxSequenceLength, config.HeadDim];
        _keys = Enumerable.Range(0, config.NumHiddenLayers).Select(_ => zeros(shape, dtype)).ToArray();
        _values = Enumerable.Range(0, config.NumHiddenLayers).Select(_ => zeros(shape, dtype)).ToArray();
        Bytes = 2L * config.NumHiddenLayers * shape.Aggregate(1L, (a, b) => a * b) * _keys[0].ElementSize;
    }

    public int Slots { get; }
    public int MaxSequenceLength { get; }
    public long Bytes { get; }

    public Tensor Keys(int layer) => _keys[layer];
    public Tensor Values(int layer) => _values[layer];

    /// <summary>Stores k, v ([N, kv, hd], one row per batch row) at each row's (slot, position).</summary>
    public void Write(int layer, StepBatch batch, Tensor k, Tensor v)
    {
        // [slots, kv, L, hd] seen as [slots, L, kv, hd]: (slot, position) then indexes a [kv, hd] block.
        using var kView = _keys[layer].permute(0, 2, 1, 3);
        using var vView = _values[layer].permute(0, 2, 1, 3);
        kView.index_put_(k, batch.Slots, batch.Positions);
        vView.index_put_(v, batch.Slots, batch.Positions);
    }

    /// <summary>The decode sequences' caches [D, kv, S, hd] (S = <see cref="StepBatch.DecodeKeyLength"/>): a view
    /// when their slots are consecutive, else a gather (copy).</summary>
    public Tensor Gather(int layer, StepBatch batch, bool isValue)
    {
        var cache = (isValue ? _values : _keys)[layer].narrow(2, 0, batch.DecodeKeyLength);
        return batch.DecodeSlotStart >= 0
            ? cache.narrow(0, batch.DecodeSlotStart, batch.DecodeCount)
            : cache.index_select(0, batch.DecodeSlots!);
    }

    /// <summary>One slot's keys or values for positions [0, length): [kv, length, hd], a view.</summary>
    public Tensor Prefix(int layer, int slot, int length, bool isValue) =>
        (isValue ? _values : _keys)[layer].select(0, slot).narrow(1, 0, length);

    public void Dispose()
    {
        foreach (var t in _keys) t.Dispose();
        foreach (var t in _values) t.Dispose();
    }
}
