namespace Bento.ModelGen;

/// <summary>
/// Writes a Hugging Face checkpoint: one <c>model.safetensors</c>, or N shards
/// <c>model-0000i-of-0000N.safetensors</c> plus <c>model.safetensors.index.json</c>.
/// </summary>
public static class ShardedCheckpointWriter
{
    public const string SingleFileName = "model.safetensors";
    public const string IndexFileName = "model.safetensors.index.json";

    /// <summary>Name of shard <paramref name="shardNumber"/> (1-based) of <paramref name="shardCount"/>,
    /// with transformers' 5-digit numbering.</summary>
    public static string ShardFileName(int shardNumber, int shardCount) =>
        $"model-{shardNumber:D5}-of-{shardCount:D5}.safetensors";

    /// <summary>True for file names this writer produces (used to clear a stale checkpoint).</summary>
    public static bool IsCheckpointFileName(string fileName) =>
        fileName == SingleFileName
        || fileName == IndexFileName
        || (fileName.StartsWith("model-", StringComparison.Ordinal)
            && fileName.Contains("-of-", StringComparison.Ordinal)
            && fileName.EndsWith(".safetensors", StringComparison.Ordinal));

    /// <summary>Writes the tensors into <paramref name="directory"/> (which must exist).</summary>
    /// <param name="tensors">In the order shards should follow (embeddings, layer 0, layer 1, ...);
    /// within a shard the file itself is sorted by name.</param>
    /// <param name="shardCount">1 for a single file; otherwise at most the number of tensors.</param>
    public static async Task<CheckpointFiles> WriteAsync(
        string directory,
        IReadOnlyList<TensorSource> tensors,
        int shardCount = 1,
        CancellationToken cancellationToken = default)
    {
        var shards = SplitIntoShards(tensors, shardCount);
        var totalTensorBytes = tensors.Sum(t => t.ByteLength);
        var names = new List<string>();
        long totalFileBytes = 0;

        if (shardCount == 1)
        {
            totalFileBytes += await SafetensorsWriter.WriteAsync(
                Path.Combine(directory, SingleFileName), tensors, null, cancellationToken).ConfigureAwait(false);
            names.Add(SingleFileName);
            return new CheckpointFiles(names, totalTensorBytes, totalFileBytes);
        }

        var weightMap = new SortedDictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < shards.Count; i++)
        {
            var name = ShardFileName(i + 1, shards.Count);
            totalFileBytes += await SafetensorsWriter.WriteAsync(
                Path.Combine(directory, name), shards[i], null, cancellationToken).ConfigureAwait(false);
            names.Add(name);
            foreach (var tensor in shards[i])
                weightMap[tensor.Name] = name;
        }

        // transformers writes the index with sort_keys=True and indent=2; we match that layout.
        var index = JsonText.Build(w =>
        {
            w.WriteStartObject();
            w.WriteStartObject("metadata");
            w.WriteNumber("total_size", totalTensorBytes);
            w.WriteEndObject();
            w.WriteStartObject("weight_map");
            foreach (var (tensor, file) in weightMap)
                w.WriteString(tensor, file);
            w.WriteEndObject();
            w.WriteEndObject();
        });
        var indexPath = Path.Combine(directory, IndexFileName);
        await File.WriteAllBytesAsync(indexPath + ".tmp", index, cancellationToken).ConfigureAwait(false);
        File.Move(indexPath + ".tmp", indexPath, overwrite: true);
        names.Add(IndexFileName);
        totalFileBytes += index.Length;
        return new CheckpointFiles(names, totalTensorBytes, totalFileBytes);
    }

    /// <summary>Splits the tensors, keeping their order, into <paramref name="shardCount"/> non-empty
    /// consecutive groups of about equal byte size.</summary>
    /// <remarks>Each shard aims at an equal share of the bytes still unassigned; a tensor joins the
    /// current shard when that brings the shard closer to its share than stopping before it. Every later
    /// shard keeps at least one tensor.</remarks>
    public static IReadOnlyList<IReadOnlyList<TensorSource>> SplitIntoShards(IReadOnlyList<TensorSource> tensors, int shardCount)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(shardCount);
        if (tensors.Count == 0)
            throw new ArgumentException("a checkpoint needs at least one tensor", nameof(tensors));
        if (shardCount > tensors.Count)
            throw new ArgumentException($"cannot split {tensors.Count} tensors into {shardCount} non-empty shards", nameof(shardCount));

        var shards = new List<IReadOnlyList<TensorSource>>(shardCount);
        var remainingBytes = tensors.Sum(t => t.ByteLength);
        var next = 0;
        for (var shard = 0; shard < shardCount; shard++)
        {
            var shardsLeft = shardCount - shard;
            var current = new List<TensorSource>();
            if (shardsLeft == 1)
            {
                current.AddRange(tensors.Skip(next));
            }
            else
            {
                var target = remainingBytes / (double)shardsLeft;
                long size = 0;
                // Leave at least one tensor for each shard after this one.
                while (tensors.Count - next > shardsLeft - 1)
                {
                    var candidate = tensors[next].ByteLength;
                    if (current.Count > 0 && Math.Abs(size + candidate - target) > Math.Abs(size - target))
                        break;
                    current.Add(tensors[next]);
                    size += candidate;
                    next++;
                }
            }
            remainingBytes -= current.Sum(t => t.ByteLength);
            shards.Add(current);
        }
        return shards;
    }
}
