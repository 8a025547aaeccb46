namespace Bento.ModelGen;

/// <summary>
/// What <see cref="ShardedCheckpointWriter"/> wrote: file names relative to the directory, the summed
/// tensor data size (the index's total_size) and the summed size of all written files.
/// </summary>
public sealed record CheckpointFiles(IReadOnlyList<string> FileNames, long TotalTensorBytes, long TotalFileBytes);
