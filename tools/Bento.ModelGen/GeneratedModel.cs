namespace Bento.ModelGen;

/// <summary>
/// Result of <see cref="ModelFolderGenerator.GenerateAsync"/>: the folder, the files written into it
/// (names relative to it, sorted), the size of those files, and the tensor data size alone.
/// </summary>
public sealed record GeneratedModel(
    string Directory,
    IReadOnlyList<string> FileNames,
    long TotalBytes,
    long WeightBytes,
    LlamaConfig Config);
