namespace Bento.Runtime.Tokenization;

/// <summary>
/// A token from tokenizer.json's <c>added_tokens</c>: matched in the input as a whole string before any
/// BPE runs, so the model never sees it split into pieces.
/// </summary>
/// <param name="Special">Control tokens (bos, eos, chat headers): skipped when decoding with
/// skipSpecialTokens, and never produced by ordinary text normalisation.</param>
/// <param name="SingleWord">Only matched when not inside a word.</param>
/// <param name="LStrip">Swallows whitespace on its left.</param>
/// <param name="RStrip">Swallows whitespace on its right.</param>
/// <param name="Normalized">Matched against the normalised text rather than the raw input.</param>
internal sealed record AddedToken(int Id, string Content, bool Special, bool SingleWord, bool LStrip, bool RStrip, bool Normalized);
