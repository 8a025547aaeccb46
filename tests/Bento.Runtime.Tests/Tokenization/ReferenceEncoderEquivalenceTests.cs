using System.Text;
using Bento.ModelGen;
using Bento.Runtime.Tokenization;

namespace Bento.Runtime.Tests.Tokenization;

/// <summary>
/// Our tokenizer.json loader against ModelGen's own encoder, which was written separately and trains the
/// merges the example ships: they must agree on every string.
/// </summary>
public sealed class ReferenceEncoderEquivalenceTests
{
    private static HfTokenizer Tokenizer => TokenizerTestFiles.Example;
    private static LlamaTokenizer Reference => TokenizerTestFiles.Reference;

    [Fact]
    public void TheExampleIsWhatModelGenWrites()
    {
        var generated = HfTokenizer.FromJson(Encoding.UTF8.GetString(TokenizerJsonWriter.ToTokenizerJson(Reference)));
        foreach (var line in SyntheticCorpus.Lines(seed: 3, lineCount: 200))
            Assert.Equal(Tokenizer.Encode(line, true), generated.Encode(line, true));
    }

    [Fact]
    public void AgreesOnSyntheticCorpusLines()
    {
        foreach (var seed in new ulong[] { 42, 7 })
        {
            foreach (var line in SyntheticCorpus.Lines(seed, lineCount: 600))
            {
                Assert.Equal(Reference.Encode(line, addBeginOfText: true), Tokenizer.Encode(line, addSpecialTokens: true));
                Assert.Equal(Reference.Encode(line, addBeginOfText: false), Tokenizer.Encode(line, addSpecialTokens: false));
            }
        }
    }

    [Fact]
    public void AgreesOnAWholeMultiLineDocument()
    {
        var document = SyntheticCorpus.Generate(seed: 11, lineCount: 300);
        var ids = Tokenizer.Encode(document, addSpecialTokens: false);
        Assert.Equal(Reference.Encode(document, addBeginOfText: false), ids);
        Assert.Equal(document, Tokenizer.Decode(ids));
    }

    [Fact]
    public void AgreesOnRandomUnicode()
    {
        var random = new Random(1234);
        for (var i = 0; i < 400; i++)
        {
            var text = RandomText(random, random.Next(1, 60));
            var ids = Tokenizer.Encode(text, addSpecialTokens: false);
            Assert.Equal(Reference.Encode(text, addBeginOfText: false), ids);
            Assert.Equal(Reference.Decode(ids), Tokenizer.Decode(ids));
            Assert.Equal(text, Tokenizer.Decode(ids));
        }
    }

    [Fact]
    public void AgreesWhenSpecialTokensAreMixedIntoText()
    {
        var random = new Random(99);
        var specials = LlamaTokenizer.SpecialTokens;
        for (var i = 0; i < 200; i++)
        {
            var text = new StringBuilder();
            for (var part = 0; part < 4; part++)
            {
                text.Append(RandomText(random, random.Next(0, 12)));
                if (random.Next(2) == 0)
                    text.Append(specials[random.Next(specials.Count)]);
            }
            Assert.Equal(Reference.Encode(text.ToString(), addBeginOfText: true), Tokenizer.Encode(text.ToString(), addSpecialTokens: true));
        }
    }

    /// <summary>Characters from many scripts and categories, including emoji outside the BMP, combining
    /// marks and joiners. (Astral letters such as 𝐀 are left out: ModelGen splits them the .NET regex
    /// way, which differs from the tokenizers library; ScalarRegexTests covers them.)</summary>
    internal static string RandomText(Random random, int length)
    {
        string[] pool =
        [
            "a", "b", "e", "s", "t", "Z", "Q", "0", "1", "7", " ", " ", " ", "  ", "\n", "\t", "\r\n", ".", ",", "!", "?", "'", "'s", "'ll", "-", "(", ")", "\"",
            "é", "ß", "ø", "ñ", "Ω", "λ", "Ж", "я", "日", "本", "語", "한", "ا", "ש", "\u0301", "\u200d", "\ufe0f", "€", "£", "½", "²", "٣",
            "😀", "👍", "🏽", "🇺", "🇸", "🚀", "🤖", "\u00a0", "\u3000",
        ];
        var text = new StringBuilder();
        for (var i = 0; i < length; i++)
            text.Append(pool[random.Next(pool.Length)]);
        return text.ToString();
    }
}
