using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Bento.Runtime.Tokenization;

namespace Bento.Runtime.Tests.Tokenization;

/// <summary>
/// Llama 3's tokenizer.json layout: a Sequence of a Split with its own regex and a ByteLevel that does
/// not split again, plus ignore_merges. Built here by rewriting the example's pre_tokenizer.
/// </summary>
public sealed class Llama3PreTokenizerTests
{
    /// <summary>The split Llama 3 ships (numbers in groups of up to three digits, a non-letter glued to
    /// the following word, newlines kept together).</summary>
    internal const string Llama3Pattern =
        @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    private static JsonObject Llama3Json(bool ignoreMerges = true)
    {
        var json = TokenizerTestFiles.ExampleTokenizerJson();
        json["pre_tokenizer"] = new JsonObject
        {
            ["type"] = "Sequence",
            ["pretokenizers"] = new JsonArray(
                new JsonObject
                {
                    ["type"] = "Split",
                    ["pattern"] = new JsonObject { ["Regex"] = Llama3Pattern },
                    ["behavior"] = "Isolated",
                    ["invert"] = false,
                },
                new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = true, ["use_regex"] = false }),
        };
        json["post_processor"] = new JsonObject
        {
            ["type"] = "Sequence",
            ["processors"] = new JsonArray(
                new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = true, ["trim_offsets"] = false, ["use_regex"] = true },
                json["post_processor"]!.DeepClone()),
        };
        json["model"]!["ignore_merges"] = ignoreMerges;
        return json;
    }

    [Fact]
    public void SplitsWithTheSequencesRegexBeforeByteLevelMerges()
    {
        var tokenizer = TokenizerTestFiles.WithTokenizerJson(Llama3Json());
        var reference = TokenizerTestFiles.Example;
        foreach (var text in new[] { "1 2 3 4", "12345678 apples", "Hello  world!\n\n  next line", "I'll say: it's 2024." })
        {
            // Expected: each Llama 3 piece encoded on its own (no piece contains a GPT-2 split point that
            // would change the result, so the example's encoder can encode pieces one by one).
            var expected = new List<int> { 507 };
            foreach (Match piece in Regex.Matches(text, Llama3Pattern))
                expected.AddRange(reference.Encode(piece.Value, addSpecialTokens: false));
            Assert.Equal(expected, tokenizer.Encode(text, addSpecialTokens: true));
            Assert.Equal(text, tokenizer.Decode(tokenizer.Encode(text, true)));
        }
    }

    [Fact]
    public void DigitsAreGroupedByThree()
    {
        var tokenizer = TokenizerTestFiles.WithTokenizerJson(Llama3Json());
        var reference = TokenizerTestFiles.Example;
        Assert.Equal(
            reference.Encode("123", false).Concat(reference.Encode("456", false)).Concat(reference.Encode("7", false)),
            tokenizer.Encode("1234567", false));
    }

    [Fact]
    public void IgnoreMergesEmitsAWholeVocabularyWordAsOneToken()
    {
        // A token the merges cannot build: with ignore_merges the pre-token is looked up whole first.
        var json = Llama3Json(ignoreMerges: true);
        json["model"]!["vocab"]!["zebra"] = 600;
        Assert.Equal([600], TokenizerTestFiles.WithTokenizerJson(json).Encode("zebra", false));

        var withoutIgnore = Llama3Json(ignoreMerges: false);
        withoutIgnore["model"]!["vocab"]!["zebra"] = 600;
        var merged = TokenizerTestFiles.WithTokenizerJson(withoutIgnore).Encode("zebra", false);
        Assert.DoesNotContain(600, merged);
        Assert.Equal("zebra", TokenizerTestFiles.WithTokenizerJson(withoutIgnore).Decode(merged));
    }

    [Fact]
    public void SplitPatternsAreMatchedPerUnicodeScalarLikeTheReference()
    {
        // The tokenizers library glues a symbol to the word after it: "😀hello" is one piece, while
        // .NET's regex alone would see two surrogates and split before the letters.
        var regex = new ScalarRegex(Llama3Pattern, "test");
        Assert.Equal([(0, "😀hello".Length)], regex.Matches("😀hello"));
        Assert.Equal(2, Regex.Matches("😀hello", Llama3Pattern).Count);
    }
}
