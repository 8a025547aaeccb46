namespace Bento.Core.Model;

/// <summary>A validated Hugging Face model folder: its config and the files a bento carries from it.</summary>
public sealed record ModelFolder(string Directory, ModelConfig Config, IReadOnlyList<ModelFile> Files, long Parameters)
{
    public IEnumerable<ModelFile> Weights => Files.Where(f => f.Role == ModelFileRole.Weights);
}

public enum ModelFileRole { Config, Tokenizer, Weights, WeightIndex, Metadata }

/// <summary>A file of the model folder; <see cref="RelativePath"/> is its path inside the folder (and inside the bento's model/).</summary>
public sealed record ModelFile(string RelativePath, string FullPath, ModelFileRole Role);
