namespace Bento.Runtime.Tokenization;

/// <summary>A piece of input after added-token splitting: plain text to encode, or one added token.</summary>
/// <param name="AtInputStart">Plain text that begins the whole input.</param>
internal readonly record struct TextSegment(string Text, bool AtInputStart, AddedToken? Token);
