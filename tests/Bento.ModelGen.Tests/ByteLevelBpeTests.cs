using System.Text;

namespace Bento.ModelGen.Tests;

public class ByteLevelBpeTests
{
    // Training is deterministic, so one shared tokenizer keeps the suite fast.
    private static readonly Lazy<LlamaTokenizer> Tokenizer = new(() => LlamaTokenizer.TrainOnSyntheticCorpus());

    [Fact]
    public void ByteTableIsGpt2s()
    {
        var chars = Enumerable.Range(0, 256).Select(b => ByteToUnicode.Encode((byte)b)).ToList();
        Assert.Equal(256, chars.Distinct().Count());
        Assert.Equal('A', ByteToUnicode.Encode((byte)'A'));
        Assert.Equal('~', ByteToUnicode.Encode((byte)'~'));
        Assert.Equal('ÿ', ByteToUnicode.Encode(0xFF));
        Assert.Equal('Ā', ByteToUnicode.Encode(0x00));   // first non-printable byte -> U+0100
        Assert.Equal('Ġ', ByteToUnicode.Encode((byte)' '));  // space is the 33rd non-printable byte -> U+0120
        Assert.Equal('Ċ', ByteToUnicode.Encode((byte)'\n'));
        Assert.Equal('Ń', ByteToUnicode.Encode(0xAD));   // soft hyphen is the last one -> U+0143
        var all = Enumerable.Range(0, 256).Select(b => (byte)b).ToArray();
        Assert.Equal(all, ByteToUnicode.Decode(ByteToUnicode.Encode(all)));
    }

    [Fact]
    public void PreTokenizerKeepsLeadingSpacesWithWordsAndNumbers()
    {
        Assert.Equal(new[] { "1", " 2", " 3", " 4", " 5" }, GptPreTokenizer.Split("1 2 3 4 5"));
        Assert.Equal(new[] { "Alice", " has", " 3", " apples", "." }, GptPreTokenizer.Split("Alice has 3 apples."));
        Assert.Equal(new[] { "it", "'s", " ok", "  ", " x", "\n" }, GptPreTokenizer.Split("it's ok   x\n"));
        var text = "Q: What comes after 4? A: 5\n\n  tabs\tand ünïcödé 🙂";
        Assert.Equal(text, string.Concat(GptPreTokenizer.Split(text)));
    }

    [Fact]
    public void CountingCompressesAndRoundTrips()
    {
        var bpe = Tokenizer.Value.Bpe;
        const string text = "1 2 3 4 5";
        var ids = bpe.Encode(text);
        Assert.True(ids.Length < Encoding.UTF8.GetByteCount(text), $"{ids.Length} tokens for {text.Length} bytes");
        Assert.Equal(text, bpe.Decode(ids));
        // " 2" etc. are single tokens: the model sees one token per number.
        Assert.Equal(5, ids.Length);
        Assert.Equal("Ġ2", bpe.Vocab[ids[1]]);
    }

    [Fact]
    public void ArbitraryTextRoundTrips()
    {
        var bpe = Tokenizer.Value.Bpe;
        foreach (var text in new[] { "", "The cat sat on the mat.", "Héllo wörld — 日本語 🙂", "  \t\n x  ", "Q: What comes after 41? A: 42" })
            Assert.Equal(text, bpe.Decode(bpe.Encode(text)));
    }

    [Fact]
    public void VocabularyStartsWithTheBytesInOrderAndMergesAreInIt()
    {
        var bpe = Tokenizer.Value.Bpe;
        Assert.Equal(LlamaTokenizer.DefaultBpeVocabSize, bpe.VocabSize);
        for (var b = 0; b < 256; b++)
            Assert.Equal(ByteToUnicode.Encode((byte)b).ToString(), bpe.Vocab[b]);
        Assert.All(bpe.Merges, m =>
        {
            Assert.True(bpe.TokenToId(m.Left) >= 0);
            Assert.True(bpe.TokenToId(m.Right) >= 0);
            Assert.True(bpe.TokenToId(m.Merged) >= 256);
        });
        Assert.Equal(bpe.VocabSize, bpe.Vocab.Distinct().Count());
    }

    [Fact]
    public void TrainingIsDeterministicAndTiesGoToTheOrdinallySmallerPair()
    {
        var a = ByteLevelBpeTrainer.Train("ab ab cd cd", 260);
        var b = ByteLevelBpeTrainer.Train("ab ab cd cd", 260);
        Assert.Equal(a.Vocab, b.Vocab);
        Assert.Equal(a.Merges, b.Merges);
        // Pairs (a,b), (Ġ,c), (c,d) all occur twice; "a" < "c" < "Ġ" ordinally (U+0120 sorts last).
        Assert.Equal(new BpeMerge("a", "b"), a.Merges[0]);
        Assert.Equal(new BpeMerge("c", "d"), a.Merges[1]);
    }

    [Fact]
    public void TrainingStopsWhenNoPairIsLeft()
    {
        var bpe = ByteLevelBpeTrainer.Train("abc", 10_000);
        Assert.Equal(258, bpe.VocabSize);   // "ab", then "abc"
        Assert.Equal(new[] { bpe.TokenToId("abc") }, bpe.Encode("abc"));
    }

    [Fact]
    public void SpecialTokensFollowTheBpeVocabularyAndAreRecognisedInText()
    {
        var tokenizer = Tokenizer.Value;
        Assert.Equal(tokenizer.Bpe.VocabSize + 5, tokenizer.TotalVocabSize);
        Assert.Equal(tokenizer.Bpe.VocabSize, tokenizer.BeginOfTextId);
        Assert.Equal(tokenizer.Bpe.VocabSize + 4, tokenizer.EndOfTurnId);

        var ids = tokenizer.Encode("<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>");
        Assert.Equal(tokenizer.BeginOfTextId, ids[0]);
        Assert.Equal(tokenizer.SpecialTokenId(LlamaTokenizer.StartHeader), ids[1]);
        Assert.Equal(tokenizer.EndOfTurnId, ids[^1]);
        Assert.Equal("<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>", tokenizer.Decode(ids));
        Assert.Equal("user\n\nHi", tokenizer.Decode(ids, skipSpecialTokens: true));
    }
}
