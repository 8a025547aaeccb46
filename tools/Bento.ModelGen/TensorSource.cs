using System.Buffers;

namespace Bento.ModelGen;

/// <summary>
/// One tensor to be stored in a safetensors file: its name, dtype tag ("F32", "F16", "BF16"), shape,
/// and a callback that writes exactly <see cref="ByteLength"/> bytes of little-endian data.
/// </summary>
/// <remarks>
/// Data is pulled through a callback, not held in an array, so the writer can stream a tensor of any
/// size straight into the file with a fixed-size buffer. The callback may be invoked more than once
/// (each checkpoint write calls it again) and must then produce the same bytes.
/// </remarks>
public sealed record TensorSource(string Name, string DType, long[] Shape, Func<Stream, CancellationToken, Task> WriteData)
{
    /// <summary>Values converted per step: 256 Ki floats = 1 MiB of float32, enough to amortise the
    /// per-write cost while keeping memory flat.</summary>
    public const int ChunkElements = 256 * 1024;

    /// <summary>Product of the dimensions (1 for a scalar).</summary>
    public long ElementCount => CountElements(Name, Shape);

    /// <summary>Size of the tensor's data in the file.</summary>
    public long ByteLength => checked(ElementCount * SafetensorsDType.ElementSize(DType));

    /// <summary>A tensor whose float32 values are produced run by run by a filler; a fresh filler is made
    /// for every write so a stateful generator restarts from its beginning. The values are converted to
    /// <paramref name="dtype"/> on the way out.</summary>
    public static TensorSource FromFloatChunks(string name, string dtype, long[] shape, Func<FloatChunkFiller> createFiller)
    {
        SafetensorsDType.ElementSize(dtype); // reject unknown dtypes up front, not halfway through a file
        var count = CountElements(name, shape);
        return new TensorSource(name, dtype, shape, (stream, ct) => WriteFloatsAsync(stream, count, dtype, createFiller(), ct));
    }

    /// <summary>A tensor whose float32 values come in fixed chunks of <see cref="ChunkElements"/> that can be
    /// computed independently and therefore in parallel: <paramref name="fillChunk"/> must depend only on
    /// its arguments (the chunk's first element index and length), never on call order. Random init uses
    /// this to keep both cores busy; memory stays at a few chunks per core.</summary>
    public static TensorSource FromIndependentChunks(string name, string dtype, long[] shape, FloatChunkFiller fillChunk)
    {
        SafetensorsDType.ElementSize(dtype);
        var count = CountElements(name, shape);
        return new TensorSource(name, dtype, shape, (stream, ct) => WriteIndependentChunksAsync(stream, count, dtype, fillChunk, ct));
    }

    /// <summary>A tensor with known float32 values (e.g. trained weights), converted to
    /// <paramref name="dtype"/> on the way out.</summary>
    public static TensorSource FromFloats(string name, string dtype, long[] shape, ReadOnlyMemory<float> values)
    {
        var source = FromFloatChunks(name, dtype, shape, () => (first, destination) =>
            values.Span.Slice(checked((int)first), destination.Length).CopyTo(destination));
        if (source.ElementCount != values.Length)
            throw new ArgumentException(
                $"tensor '{name}' has shape [{string.Join(", ", shape)}] = {source.ElementCount} elements but {values.Length} values were given",
                nameof(values));
        return source;
    }

    /// <summary>A tensor whose every element is <paramref name="value"/> (RMSNorm weights start at 1).</summary>
    public static TensorSource Constant(string name, string dtype, long[] shape, float value) =>
        FromFloatChunks(name, dtype, shape, () => (_, destination) => destination.Fill(value));

    private static long CountElements(string name, long[] shape)
    {
        long count = 1;
        foreach (var dim in shape)
        {
            if (dim < 0)
                throw new ArgumentException($"tensor '{name}' has a negative dimension {dim}");
            count = checked(count * dim);
        }
        return count;
    }

    private static async Task WriteIndependentChunksAsync(Stream stream, long count, string dtype, FloatChunkFiller fillChunk, CancellationToken ct)
    {
        var chunkCount = (count + ChunkElements - 1) / ChunkElements;
        var slots = (int)Math.Min(Math.Clamp(Environment.ProcessorCount, 1, 8), chunkCount);
        if (chunkCount <= 1)
        {
            await WriteFloatsAsync(stream, count, dtype, fillChunk, ct).ConfigureAwait(false);
            return;
        }

        // Two batches of buffers: while one batch is written (the disk may be the bottleneck), the
        // next one is computed on all cores.
        using var current = new ChunkBatch(slots, dtype);
        using var next = new ChunkBatch(slots, dtype);
        var (writing, filling) = (current, next);
        writing.Fill(0, count, fillChunk, ct);
        for (long firstChunk = 0; firstChunk < chunkCount; firstChunk += slots)
        {
            var nextFirst = firstChunk + slots;
            var nextFill = nextFirst < chunkCount
                ? Task.Run(() => filling.Fill(nextFirst, count, fillChunk, ct), ct)
                : Task.CompletedTask;
            try
            {
                // Chunks go out in index order, so the bytes do not depend on scheduling.
                await writing.WriteAsync(stream, ct).ConfigureAwait(false);
            }
            finally
            {
                // Never return buffers to the pool while a fill may still be using them.
                await nextFill.ConfigureAwait(false);
            }
            (writing, filling) = (filling, writing);
        }
    }

    /// <summary>Pooled buffers for a batch of consecutive chunks, encoded and ready to write.</summary>
    private sealed class ChunkBatch : IDisposable
    {
        private readonly string _dtype;
        private readonly float[][] _floats;
        private readonly byte[][] _bytes;
        private readonly int[] _lengths;
        private int _filled;

        public ChunkBatch(int slots, string dtype)
        {
            _dtype = dtype;
            var elementSize = SafetensorsDType.ElementSize(dtype);
            _floats = new float[slots][];
            _bytes = new byte[slots][];
            _lengths = new int[slots];
            for (var i = 0; i < slots; i++)
            {
                _floats[i] = ArrayPool<float>.Shared.Rent(ChunkElements);
                _bytes[i] = ArrayPool<byte>.Shared.Rent(ChunkElements * elementSize);
            }
        }

        /// <summary>Computes and encodes chunks firstChunk .. firstChunk + slots - 1 (fewer at the end).</summary>
        public void Fill(long firstChunk, long count, FloatChunkFiller fillChunk, CancellationToken ct)
        {
            var chunkCount = (count + ChunkElements - 1) / ChunkElements;
            _filled = (int)Math.Min(_floats.Length, chunkCount - firstChunk);
            Parallel.For(0, _filled, new ParallelOptions { CancellationToken = ct }, i =>
            {
                var first = (firstChunk + i) * ChunkElements;
                var n = (int)Math.Min(ChunkElements, count - first);
                fillChunk(first, _floats[i].AsSpan(0, n));
                _lengths[i] = FloatConversion.Encode(_floats[i].AsSpan(0, n), _dtype, _bytes[i]);
            });
        }

        public async Task WriteAsync(Stream stream, CancellationToken ct)
        {
            for (var i = 0; i < _filled; i++)
                await stream.WriteAsync(_bytes[i].AsMemory(0, _lengths[i]), ct).ConfigureAwait(false);
        }

        public void Dispose()
        {
            for (var i = 0; i < _floats.Length; i++)
            {
                ArrayPool<byte>.Shared.Return(_bytes[i]);
                ArrayPool<float>.Shared.Return(_floats[i]);
            }
        }
    }

    private static async Task WriteFloatsAsync(Stream stream, long count, string dtype, FloatChunkFiller fill, CancellationToken ct)
    {
        var elementSize = SafetensorsDType.ElementSize(dtype);
        var floats = ArrayPool<float>.Shared.Rent(ChunkElements);
        var bytes = ArrayPool<byte>.Shared.Rent(ChunkElements * elementSize);
        try
        {
            for (long done = 0; done < count;)
            {
                ct.ThrowIfCancellationRequested();
                var n = (int)Math.Min(ChunkElements, count - done);
                fill(done, floats.AsSpan(0, n));
                var byteCount = FloatConversion.Encode(floats.AsSpan(0, n), dtype, bytes);
                await stream.WriteAsync(bytes.AsMemory(0, byteCount), ct).ConfigureAwait(false);
                done += n;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(bytes);
            ArrayPool<float>.Shared.Return(floats);
        }
    }
}
