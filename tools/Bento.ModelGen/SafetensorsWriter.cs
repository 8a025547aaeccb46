using System.Buffers.Binary;

namespace Bento.ModelGen;

/// <summary>
/// Streams tensors into one file in the safetensors format.
/// </summary>
/// <remarks>
/// Layout: an unsigned 64-bit little-endian header length N, N bytes of JSON header, then the tensors'
/// raw little-endian data back to back in header order. The header is padded with spaces so the data
/// starts at a multiple of 8 (8 + N ≡ 0 mod 8), as the reference implementation does, which keeps every
/// tensor aligned for memory-mapped readers. Tensors are sorted by name (ordinal) so the same input
/// always gives the same bytes.
/// </remarks>
public static class SafetensorsWriter
{
    /// <summary>Writes <paramref name="tensors"/> to <paramref name="path"/> and returns the file size.
    /// The file is written as path + ".tmp" and renamed at the end, so a failure or cancellation never
    /// leaves a truncated file under the final name.</summary>
    public static async Task<long> WriteAsync(
        string path,
        IReadOnlyList<TensorSource> tensors,
        IReadOnlyDictionary<string, string>? metadata = null,
        CancellationToken cancellationToken = default)
    {
        var ordered = SortByName(tensors);
        var header = BuildHeader(ordered, metadata);
        var dataBytes = ordered.Sum(t => t.ByteLength);
        var fileSize = 8 + header.Length + dataBytes;

        var tmp = path + ".tmp";
        try
        {
            var options = new FileStreamOptions
            {
                Mode = FileMode.Create,
                Access = FileAccess.Write,
                Share = FileShare.None,
                // Producers write 1 MiB chunks, which bypass this buffer; it only batches small writes.
                BufferSize = 64 * 1024,
                // Reserving the space up front fails early on a full disk and avoids fragmentation.
                PreallocationSize = fileSize,
            };
            await using (var stream = new FileStream(tmp, options))
            {
                var prefix = new byte[8];
                BinaryPrimitives.WriteUInt64LittleEndian(prefix, (ulong)header.Length);
                await stream.WriteAsync(prefix, cancellationToken).ConfigureAwait(false);
                await stream.WriteAsync(header, cancellationToken).ConfigureAwait(false);

                foreach (var tensor in ordered)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    var before = stream.Position;
                    await tensor.WriteData(stream, cancellationToken).ConfigureAwait(false);
                    var written = stream.Position - before;
                    // A wrong-sized callback would silently shift every later tensor; refuse it.
                    if (written != tensor.ByteLength)
                        throw new InvalidDataException(
                            $"tensor '{tensor.Name}' wrote {written} bytes, but its dtype {tensor.DType} and shape [{string.Join(", ", tensor.Shape)}] need {tensor.ByteLength}");
                }
                await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
                if (stream.Length != fileSize)
                    throw new InvalidDataException($"wrote {stream.Length} bytes to {tmp}, expected {fileSize}");
            }
            // No fsync: these are generated fixtures that can be regenerated; the rename still guarantees
            // that readers never see a partial file under the final name.
            File.Move(tmp, path, overwrite: true);
            return fileSize;
        }
        catch
        {
            TryDelete(tmp);
            throw;
        }
    }

    /// <summary>The header bytes (JSON plus space padding, without the 8-byte length prefix) that
    /// <see cref="WriteAsync"/> writes for these tensors.</summary>
    public static byte[] BuildHeader(IReadOnlyList<TensorSource> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var ordered = SortByName(tensors);
        var json = JsonText.Build(w =>
        {
            w.WriteStartObject();
            // Like the reference writer, __metadata__ comes first and tensors follow in data order.
            w.WriteStartObject("__metadata__");
            // "format": "pt" tells transformers the tensors follow PyTorch conventions; it warns without it.
            var meta = new SortedDictionary<string, string>(StringComparer.Ordinal) { ["format"] = "pt" };
            foreach (var (key, value) in metadata ?? new Dictionary<string, string>())
                meta[key] = value;
            foreach (var (key, value) in meta)
                w.WriteString(key, value);
            w.WriteEndObject();

            long offset = 0;
            foreach (var tensor in ordered)
            {
                w.WriteStartObject(tensor.Name);
                w.WriteString("dtype", tensor.DType);
                w.WriteStartArray("shape");
                foreach (var dim in tensor.Shape)
                    w.WriteNumberValue(dim);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(offset);
                offset += tensor.ByteLength;
                w.WriteNumberValue(offset);
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndObject();
        }, indented: false);

        var padded = (json.Length + 7) / 8 * 8;
        var header = new byte[padded];
        json.CopyTo(header, 0);
        header.AsSpan(json.Length).Fill((byte)' ');
        return header;
    }

    private static List<TensorSource> SortByName(IReadOnlyList<TensorSource> tensors)
    {
        var ordered = tensors.OrderBy(t => t.Name, StringComparer.Ordinal).ToList();
        for (var i = 1; i < ordered.Count; i++)
        {
            if (ordered[i].Name == ordered[i - 1].Name)
                throw new ArgumentException($"tensor '{ordered[i].Name}' appears twice", nameof(tensors));
        }
        if (ordered.Any(t => t.Name == "__metadata__" || t.Name.Length == 0))
            throw new ArgumentException("a tensor name may not be empty or '__metadata__'", nameof(tensors));
        return ordered;
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
            // Best effort: the original error matters more than a leftover temp file.
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
