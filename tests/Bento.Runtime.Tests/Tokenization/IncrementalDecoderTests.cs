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

    [Fact]
    public void PendingIsWhatFlushWouldReturn()
    {
        var tokenizer = TokenizerTestFiles.Example;
        var random = new Random(23);
        for (var run = 0; run < 200; run++)
        {
            // Any ids, so incomplete and invalid UTF-8 too.
            var ids = Enumerable.Range(0, random.Next(1, 12)).Select(_ => random.Next(tokenizer.VocabSize)).ToList();
            for (var length = 1; length <= ids.Count; length++)
            {
                var decoder = new IncrementalDecoder(tokenizer);
                var streamed = string.Concat(ids.Take(length).Select(decoder.Add));
                var pending = decoder.Pending;
                Assert.True(pending.Length == 0 || pending.EndsWith('\uFFFD'), pending);
                Assert.Equal(pending, decoder.Flush());
                Assert.Equal("", decoder.Pending);
                Assert.Equal(tokenizer.Decode(ids.Take(length).ToList()), streamed + pending);
            }
        }
    }

    [Fact]
    public void PendingShowsTheWholeTextOfTheHeldBackTokens()
    {
        var tokenizer = TokenizerTestFiles.Example;
        var ids = tokenizer.Encode("ok é", addSpecialTokens: false);
        var decoder = new IncrementalDecoder(tokenizer);
        var deltas = ids.Take(ids.Count - 1).Select(decoder.Add).ToList();
        Assert.EndsWith("\uFFFD", decoder.Pending);
        Assert.Equal("ok \uFFFD", string.Concat(deltas) + decoder.Pending);
        Assert.Equal("ok é", string.Concat(deltas) + decoder.Add(ids[^1]));
        Assert.Equal("", decoder.Pending);
    }

    [Fact]
    public void SkippedSpecialTokensAreNeverDecoded()
    {
        var counting = new CountingTokenizer(TokenizerTestFiles.Example);
        var decoder = new IncrementalDecoder(counting);
        var euro = counting.Encode("€", addSpecialTokens: false);
        Assert.Equal("", decoder.Add(euro[0]));
        var calls = counting.DecodeCalls;
        for (var i = 0; i < 1_000; i++)
            Assert.Equal("", decoder.Add(511));
        Assert.Equal(calls, counting.DecodeCalls);
        Assert.Equal("€", string.Concat(euro.Skip(1).Select(decoder.Add)));
        Assert.True(counting.LongestDecode <= euro.Count, $"{counting.LongestDecode}");

        // Kept, they are text like any other.
        var kept = new IncrementalDecoder(TokenizerTestFiles.Example, skipSpecialTokens: false);
        Assert.Equal("<|eot_id|>", kept.Add(511));
    }

    [Fact]
    public void AByteFallbackRunThatIsNotUtf8KeepsTheLengthOfTheFullDecode()
    {
        var tokenizer = SentencePieceTokenizerTests.Load();
        var word = tokenizer.Encode("Hello world", addSpecialTokens: false)[^1];   // ▁world
        int[] ids = [3 + 0xC3, 3 + 0xA9, 3 + 0xC3, word];
        // The whole run decodes to U+FFFD per byte once it turns out invalid; "é" was already streamed, so the rest
        // comes out as what the full decode has beyond it.
        Assert.Equal("\uFFFD\uFFFD\uFFFD world", tokenizer.Decode(ids));
        var (deltas, streamed) = Stream(tokenizer, ids);
        Assert.Equal(["", "é", "", "\uFFFD\uFFFD world"], deltas);
        Assert.Equal(tokenizer.Decode(ids).Length, streamed.Length);
    }
}
