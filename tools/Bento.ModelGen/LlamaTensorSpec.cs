namespace Bento.ModelGen;

/// <summary>
/// Name and shape of one tensor of a Llama checkpoint, and whether it starts as the identity of its RMSNorm
/// (<see cref="NormIdentity"/>: 1, or 0 for Gemma's (1 + w) norms) or as random normal values (projections and embeddings).
/// </summary>
public sealed record LlamaTensorSpec(string Name, long[] Shape, bool IsNormWeight, float NormIdentity = 1f)
{
    public long ElementCount => Shape.Aggregate(1L, (a, b) => checked(a * b));
}
