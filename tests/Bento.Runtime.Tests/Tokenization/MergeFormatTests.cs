using System.Text;
using System.Text.Json.Nodes;

namespace Bento.Runtime.Tests.Tokenization;

/// <summary>tokenizer.json writes merges either as "left right" strings (older files, most Hub models) or as
/// ["left", "right"] pairs (tokenizers 0.20+); both must load to the same tokenizer.</summary>
public sealed class MergeFormatTests
{
    [Fact]
    public void StringMergesAndPairMergesEncodeIdentically()
    {
        var pairs = TokenizerTestFiles.ExampleTokenizerJson();
        Assert.IsType<JsonArray>(pairs["model"]!["merges"]![0]);
        var strings = TokenizerTestFiles.ExampleTokenizerJson();
        var merges = strings["model"]!["merges"]!.AsArray();
        for (var i = 0; i < merges.Count; i++)
        {
            var pair = merges[i]!.AsArray();
            merges[i] = JsonValue.Create($"{pair[0]!.GetValue<string>()} {pair[1]!.GetValue<string>()}");
        }

        var fromPairs = TokenizerTestFiles.WithTokenizerJson(pairs);
        var fromStrings = TokenizerTestFiles.WithTokenizerJson(strings);
        var random = new Random(5);
        foreach (var text in Bento.ModelGen.SyntheticCorpus.Lines(seed: 5, lineCount: 200)
                     .Concat(Enumerable.Range(0, 100).Select(_ => ReferenceEncoderEquivalenceTests.RandomText(random, 30))))
        {
            Assert.Equal(fromPairs.Encode(text, true), fromStrings.Encode(text, true));
        }
    }

    [Fact]
    public void MergesAreActuallyApplied()
    {
        // Without merges every byte would be its own token; the trained merges must shorten counting text.
        var text = "1 2 3 4 5 6 7 8 9 10 11 12";
        var ids = TokenizerTestFiles.Example.Encode(text, addSpecialTokens: false);
        Assert.True(ids.Count < Encoding.UTF8.GetByteCount(text) / 2, $"{ids.Count} tokens for {text.Length} bytes");

        var noMerges = TokenizerTestFiles.ExampleTokenizerJson();
        noMerges["model"]!["merges"] = new JsonArray();
        Assert.Equal(Encoding.UTF8.GetByteCount(text), TokenizerTestFiles.WithTokenizerJson(noMerges).Encode(text, false).Count);
    }

    [Fact]
    public void MalformedMergesAreRejectedByPosition()
    {
        var json = TokenizerTestFiles.ExampleTokenizerJson();
        json["model"]!["merges"]!.AsArray().Insert(3, JsonValue.Create("only-one-part"));
        var error = Assert.Throws<Bento.Runtime.Tokenization.TokenizerFormatException>(() => TokenizerTestFiles.WithTokenizerJson(json));
        Assert.Contains("merge #3", error.Message);

        var unknown = TokenizerTestFiles.ExampleTokenizerJson();
        unknown["model"]!["merges"]!.AsArray().Add(new JsonArray("Ġ", "notatoken"));
        Assert.Contains("not in the vocabulary", Assert.Throws<Bento.Runtime.Tokenization.TokenizerFormatException>(() => TokenizerTestFiles.WithTokenizerJson(unknown)).Message);
    }
}
