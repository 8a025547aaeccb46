namespace Bento.Runtime.Tokenization;

/// <summary>
/// A tokenizer file we cannot use: malformed JSON, a missing field, or a component (normalizer,
/// pre-tokenizer, model, post-processor, decoder) this runtime does not implement. The message names the
/// file and the component so the model's author knows what to change.
/// </summary>
public sealed class TokenizerFormatException : Exception
{
    public TokenizerFormatException(string message) : base(message) { }

    public TokenizerFormatException(string message, Exception inner) : base(message, inner) { }

    /// <summary>The standard error for a component type we have not implemented.</summary>
    internal static TokenizerFormatException Unsupported(string component, string? type) =>
        new($"tokenizer.json: {component} of type '{type ?? "(none)"}' is not supported by the Bento runtime");
}
