namespace Bento.ModelGen;

/// <summary>
/// Name and shape of one tensor of a Llama checkpoint, and whether it starts as ones (RMSNorm scales)
/// or as random normal values (projections and embeddings).
/// </summary>
public sealed record LlamaTensorSpec(string Name, long[] Shape, bool IsNormWeight)
{
    public long ElementCount => Shape.Aggregate(1L, (a, b) => checked(a * b));
}
