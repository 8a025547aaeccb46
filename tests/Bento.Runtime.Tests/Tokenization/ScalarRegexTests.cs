using System.Globalization;
using Bento.Runtime.Tokenization;

namespace Bento.Runtime.Tests.Tokenization;

public sealed class ScalarRegexTests
{
    [Fact]
    public void AstralLettersCountAsLetters()
    {
        var gpt2 = new ScalarRegex(PreTokenizer.Gpt2Pattern, "test");
        // " 𝐀𝐁c" is one word for the reference (math letters are \p{L}); offsets stay in UTF-16 units.
        Assert.Equal([(0, 6), (6, 4)], gpt2.Matches(" 𝐀𝐁c !!!"));
    }

    [Fact]
    public void TextWithoutSurrogatesMatchesDirectly()
    {
        var gpt2 = new ScalarRegex(PreTokenizer.Gpt2Pattern, "test");
        Assert.Equal([(0, 5), (5, 6), (11, 1)], gpt2.Matches("Hello world!"));
    }

    [Fact]
    public void StandInsHaveTheCategoryTheyStandFor()
    {
        foreach (var category in Enum.GetValues<UnicodeCategory>())
        {
            if (category is UnicodeCategory.Control or UnicodeCategory.Surrogate or UnicodeCategory.SpaceSeparator
                or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator or UnicodeCategory.PrivateUse)
            {
                continue;
            }
            Assert.Equal(category, CharUnicodeInfo.GetUnicodeCategory(ScalarRegex.StandIn(category)));
        }
    }

    [Fact]
    public void BadPatternsNameTheComponent()
    {
        var error = Assert.Throws<TokenizerFormatException>(() => new ScalarRegex("(unclosed", "pre_tokenizer Split"));
        Assert.Contains("pre_tokenizer Split", error.Message);
    }
}
