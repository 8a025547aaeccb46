using Bento.Runtime.Tokenization;

namespace Bento.Runtime.Tests.Tokenization;

/// <summary>The committed examples/tiny-llama tokenizer, loaded from its folder as the server does.</summary>
public sealed class ExampleTokenizerTests
{
    private static HfTokenizer Tokenizer => TokenizerTestFiles.Example;

    public static TheoryData<string> RoundTripTexts => new()
    {
        "",
        "1 2 3 4 5 6 7",
        "Hello, world! The cat sat on the mat.",
        "Q: What comes after 41? A: 42",
        " leading and trailing spaces  ",
        "tabs\tand\nnewlines\r\n\n  indented",
        "naïve café, Ærøskøbing, Straße",
        "日本語のテキストと한국어",
        "emoji 😀👍🏽 and flags 🇺🇸🇯🇵",
        "family 👨‍👩‍👧‍👦 joined by zero-width joiners",
        "math 𝐀𝐁𝐂 and ancient 𐍈 letters",
        "it's we're they've I'm you'll he'd",
        "<|eot_id without the closing bar",
    };

    [Fact]
    public void EncodesCountingPromptLikeHuggingFace()
    {
        // Verified with the tokenizers library: the post-processor prepends <|begin_of_text|> (507).
        Assert.Equal([507, 49, 256, 257, 259], Tokenizer.Encode("1 2 3 4", addSpecialTokens: true));
        Assert.Equal([49, 256, 257, 259], Tokenizer.Encode("1 2 3 4", addSpecialTokens: false));
    }

    [Theory]
    [MemberData(nameof(RoundTripTexts))]
    public void DecodeInvertsEncode(string text)
    {
        Assert.Equal(text, Tokenizer.Decode(Tokenizer.Encode(text, addSpecialTokens: false)));
        var withBos = Tokenizer.Encode(text, addSpecialTokens: true);
        Assert.Equal(text, Tokenizer.Decode(withBos, skipSpecialTokens: true));
        Assert.Equal("<|begin_of_text|>" + text, Tokenizer.Decode(withBos, skipSpecialTokens: false));
    }

    [Fact]
    public void SpecialTokensWrittenInTextAreSingleIds()
    {
        var ids = Tokenizer.Encode("<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>", addSpecialTokens: false);

        var expected = new List<int> { 509 };
        expected.AddRange(Tokenizer.Encode("user", addSpecialTokens: false));
        expected.Add(510);
        expected.AddRange(Tokenizer.Encode("\n\nHi", addSpecialTokens: false));
        expected.Add(511);
        Assert.Equal(expected, ids);
    }

    [Fact]
    public void IncompleteSpecialTokenTextIsOrdinaryText()
    {
        var ids = Tokenizer.Encode("<|eot_id|", addSpecialTokens: false);
        Assert.DoesNotContain(511, ids);
        Assert.Equal("<|eot_id|", Tokenizer.Decode(ids));
    }

    [Fact]
    public void ReadsSpecialTokensAndStopIdsFromTheModelFolder()
    {
        Assert.Equal(512, Tokenizer.VocabSize);
        Assert.Equal(507, Tokenizer.BosTokenId);
        Assert.Equal(508, Tokenizer.EosTokenId);
        Assert.Equal("<|begin_of_text|>", Tokenizer.BosToken);
        Assert.Equal("<|end_of_text|>", Tokenizer.EosToken);
        // eos_token plus generation_config.json's [508, 511].
        Assert.True(Tokenizer.StopTokenIds.SetEquals([508, 511]));
        Assert.Equal(507, Tokenizer.TokenToId("<|begin_of_text|>"));
        Assert.Equal("Ġ2", Tokenizer.IdToToken(256));
    }

    [Fact]
    public void OnlyAddedSpecialTokensAreSpecial()
    {
        for (var id = 507; id <= 511; id++)
            Assert.True(Tokenizer.IsSpecial(id));
        Assert.False(Tokenizer.IsSpecial(49));
        Assert.False(Tokenizer.IsSpecial(100_000));
    }

    [Fact]
    public void DecodeSkipsSpecialTokensByDefaultAndIgnoresIdsOutsideTheVocabulary()
    {
        var ids = new[] { 509, 49, 510, 511, 4_000 };
        Assert.Equal("1", Tokenizer.Decode(ids));
        Assert.Equal("<|start_header_id|>1<|end_header_id|><|eot_id|>", Tokenizer.Decode(ids, skipSpecialTokens: false));
    }

    [Fact]
    public void ExposesTheChatTemplate()
    {
        Assert.True(Tokenizer.ChatTemplates.ContainsKey("default"));
        Assert.NotNull(Tokenizer.GetChatTemplate());
        Assert.Same(Tokenizer.GetChatTemplate(), Tokenizer.GetChatTemplate());
        Assert.Null(Tokenizer.GetChatTemplate("tool_use"));
    }
}
