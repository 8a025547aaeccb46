namespace Bento.Runtime.Engine;

/// <summary>
/// A per-sequence restriction of the next token (constrained decoding): masks the logits of tokens that cannot
/// continue a valid output, then follows the token that was chosen. Created for each sequence from the request's
/// <see cref="SamplingParams.Constraint"/>; all calls come from the engine's model thread.
/// </summary>
public interface ILogitsConstraint
{
    /// <summary>Sets the logits of disallowed tokens to -infinity (stop tokens only where the output may end).</summary>
    void Apply(Span<float> logits);

    /// <summary>After <see cref="Apply"/>: true when only a stop token may follow (the output is complete).</summary>
    bool OnlyStopTokens { get; }

    /// <summary>Moves past the chosen token.</summary>
    void Advance(int token);
}

/// <summary>A compiled constraint, shared by the sequences of every request that uses it.</summary>
public interface ILogitsConstraintFactory
{
    ILogitsConstraint Start();
}
