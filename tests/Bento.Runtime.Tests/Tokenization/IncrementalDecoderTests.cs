using System.Text;
using Bento.Runtime.Tokenization;

namespace Bento.Runtime.Tests.Tokenization;

public sealed class IncrementalDecoderTests
{
    private static (List<string> Deltas, string Text) Stream(ITextTokenizer tokenizer, IReadOnlyList<int> ids, IReadOnlyList<int>? prompt = null)
    {
        var decoder = new IncrementalDecoder(tokenizer, skipSpecialTokens: true, prompt);
        var deltas = ids.Select(decoder.Add).ToList();
        var flushed = decoder.Flush();
        return (deltas, string.Concat(deltas) + flushed);
    }

    [Theory]
    [InlineData("héllo wörld")]
    [InlineData("日本語のテキスト")]
    [InlineData("emoji 😀👍🏽 and 👨‍👩‍👧‍👦 family")]
    [InlineData("mixed ascii 1 2 3 and Ω≈ç√∫")]
    public void NeverEmitsAPartialCharacterFromAByteLevelVocabulary(string text)
    {
        var tokenizer = TokenizerTestFiles.Example;
        var ids = tokenizer.Encode(text, addSpecialTokens: false);
        // The example's vocabulary has no merges for these scripts: characters span several byte tokens.
        Assert.True(ids.Count > text.Length / 2);

        var (deltas, streamed) = Stream(tokenizer, ids);
        Assert.All(deltas, delta => Assert.DoesNotContain('\uFFFD', delta));
        Assert.Contains("", deltas);
        Assert.Equal(text, streamed);
    }

    [Fact]
    public void NeverEmitsAPartialCharacterFromByteFallbackTokens()
    {
        var tokenizer = SentencePieceTokenizerTests.Load();
        var text = "Hello é😀 world";
        var (deltas, streamed) = Stream(tokenizer, tokenizer.Encode(text, addSpecialTokens: false));
        Assert.All(deltas, delta => Assert.DoesNotContain('\uFFFD', delta));
        Assert.Equal(text, streamed);
        Assert.Equal(["Hello", " ", "", "é", "", "", "", "😀", " world"], deltas);
    }

    [Fact]
    public void PromptContextKeepsTheLeadingSpaceOfTheFirstGeneratedWord()
    {
        var tokenizer = SentencePieceTokenizerTests.Load();
        var prompt = tokenizer.Encode("Hello", addSpecialTokens: true);
        var generated = tokenizer.Encode("Hello world", addSpecialTokens: false).Skip(1).ToList();   // "▁world"

        // Decoded alone, "▁world" loses its space to the Strip decoder; after the prompt it must not.
        Assert.Equal("world", tokenizer.Decode(generated));
        Assert.Equal(" world", Stream(tokenizer, generated, prompt).Text);
    }

    [Fact]
    public void SkippedSpecialTokensProduceNoText()
    {
        var tokenizer = TokenizerTestFiles.Example;
        var ids = tokenizer.Encode("1 2 3", addSpecialTokens: false).Append(511).Append(508).ToList();
        var (deltas, streamed) = Stream(tokenizer, ids);
        Assert.Equal("1 2 3", streamed);
        Assert.Equal(["", ""], deltas[^2..]);
    }

    [Fact]
    public void FlushReleasesAnIncompleteCharacterAsAReplacementCharacter()
    {
        var tokenizer = TokenizerTestFiles.Example;
        var firstByteOfE = tokenizer.Encode("é", addSpecialTokens: false)[0];
        var decoder = new IncrementalDecoder(tokenizer);
        Assert.Equal("ok", string.Concat(tokenizer.Encode("ok", false).Select(decoder.Add)));
        Assert.Equal("", decoder.Add(firstByteOfE));
        Assert.Equal("\uFFFD", decoder.Flush());
        Assert.Equal("", decoder.Flush());
    }

    [Fact]
    public void LongStreamsMatchTheFullDecode()
    {
        var tokenizer = TokenizerTestFiles.Example;
        var random = new Random(17);
        var text = new StringBuilder();
        for (var i = 0; i < 50; i++)
            text.Append(ReferenceEncoderEquivalenceTests.RandomText(random, 20));
        var ids = tokenizer.Encode(text.ToString(), addSpecialTokens: false);
        var (deltas, streamed) = Stream(tokenizer, ids);
        Assert.Equal(tokenizer.Decode(ids), streamed);
        Assert.All(deltas, delta => Assert.False(delta.EndsWith('\uFFFD'), delta));
    }
}
