namespace Bento.ModelGen;

/// <summary>
/// Produces the next run of a tensor's values: fills <paramref name="destination"/> with elements
/// <paramref name="firstElement"/> .. firstElement + destination.Length - 1 (in row-major order).
/// </summary>
/// <remarks>Called with consecutive, ascending ranges, so a stateful generator (a random stream) may
/// ignore <paramref name="firstElement"/>.</remarks>
public delegate void FloatChunkFiller(long firstElement, Span<float> destination);
