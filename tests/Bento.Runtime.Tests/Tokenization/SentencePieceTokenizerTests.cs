using System.Text.Json.Nodes;
using Bento.Runtime.Tokenization;

namespace Bento.Runtime.Tests.Tokenization;

/// <summary>
/// The SentencePiece-converted layout of Llama 2, Mistral and TinyLlama: "▁" marks word starts, the
/// normaliser prepends one and turns spaces into them, unknown characters fall back to "&lt;0xNN&gt;"
/// byte tokens, and the decoder undoes it all. The tokenizer here is written by hand.
/// </summary>
public sealed class SentencePieceTokenizerTests
{
    private const int FirstPieceId = 259;
    private static readonly string[] Pieces =
        ["▁", "H", "e", "l", "o", "w", "r", "d", "ll", "He", "llo", "Hello", "▁Hello", "or", "wor", "ld", "world", "▁world"];

    private static int Id(string piece) => FirstPieceId + Array.IndexOf(Pieces, piece);

    private static int ByteId(byte value) => 3 + value;

    internal static JsonObject TokenizerJson(bool byteFallback = true)
    {
        var vocab = new JsonObject { ["<unk>"] = 0, ["<s>"] = 1, ["</s>"] = 2 };
        for (var b = 0; b < 256; b++)
            vocab[$"<0x{b:X2}>"] = ByteId((byte)b);
        foreach (var piece in Pieces)
            vocab[piece] = Id(piece);

        JsonObject Added(int id, string content) => new()
        {
            ["id"] = id, ["content"] = content, ["single_word"] = false, ["lstrip"] = false, ["rstrip"] = false,
            ["normalized"] = false, ["special"] = true,
        };
        JsonObject Replace(string from, string to) => new()
        {
            ["type"] = "Replace", ["pattern"] = new JsonObject { ["String"] = from }, ["content"] = to,
        };

        return new JsonObject
        {
            ["version"] = "1.0",
            ["added_tokens"] = new JsonArray(Added(0, "<unk>"), Added(1, "<s>"), Added(2, "</s>")),
            ["normalizer"] = new JsonObject
            {
                ["type"] = "Sequence",
                ["normalizers"] = new JsonArray(new JsonObject { ["type"] = "Prepend", ["prepend"] = "▁" }, Replace(" ", "▁")),
            },
            ["pre_tokenizer"] = null,
            ["post_processor"] = new JsonObject
            {
                ["type"] = "TemplateProcessing",
                ["single"] = new JsonArray(
                    new JsonObject { ["SpecialToken"] = new JsonObject { ["id"] = "<s>", ["type_id"] = 0 } },
                    new JsonObject { ["Sequence"] = new JsonObject { ["id"] = "A", ["type_id"] = 0 } }),
                ["special_tokens"] = new JsonObject
                {
                    ["<s>"] = new JsonObject { ["id"] = "<s>", ["ids"] = new JsonArray(1), ["tokens"] = new JsonArray("<s>") },
                },
            },
            ["decoder"] = new JsonObject
            {
                ["type"] = "Sequence",
                ["decoders"] = new JsonArray(
                    Replace("▁", " "),
                    new JsonObject { ["type"] = "ByteFallback" },
                    new JsonObject { ["type"] = "Fuse" },
                    new JsonObject { ["type"] = "Strip", ["content"] = " ", ["start"] = 1, ["stop"] = 0 }),
            },
            ["model"] = new JsonObject
            {
                ["type"] = "BPE",
                ["dropout"] = null,
                ["unk_token"] = "<unk>",
                ["continuing_subword_prefix"] = null,
                ["end_of_word_suffix"] = null,
                ["fuse_unk"] = true,
                ["byte_fallback"] = byteFallback,
                ["vocab"] = vocab,
                ["merges"] = new JsonArray("l l", "H e", "ll o", "He llo", "▁ Hello", "o r", "w or", "l d", "wor ld", "▁ world"),
            },
        };
    }

    internal static HfTokenizer Load(bool byteFallback = true, string? tokenizerConfig = null) =>
        HfTokenizer.FromJson(TokenizerJson(byteFallback).ToJsonString(),
            tokenizerConfig ?? """{"bos_token": "<s>", "eos_token": "</s>", "tokenizer_class": "LlamaTokenizerFast", "add_bos_token": true}""");

    [Fact]
    public void EncodesWordsWithTheirSpaceMarker()
    {
        var tokenizer = Load();
        Assert.Equal([1, Id("▁Hello"), Id("▁world")], tokenizer.Encode("Hello world", addSpecialTokens: true));
        Assert.Equal([Id("▁Hello"), Id("▁world")], tokenizer.Encode("Hello world", addSpecialTokens: false));
        Assert.Equal("Hello world", tokenizer.Decode(tokenizer.Encode("Hello world", true)));
    }

    [Fact]
    public void UnknownCharactersFallBackToTheirUtf8Bytes()
    {
        var tokenizer = Load();
        var ids = tokenizer.Encode("Hello é😀", addSpecialTokens: false);
        Assert.Equal([Id("▁Hello"), Id("▁"), ByteId(0xC3), ByteId(0xA9), ByteId(0xF0), ByteId(0x9F), ByteId(0x98), ByteId(0x80)], ids);
        Assert.Equal("Hello é😀", tokenizer.Decode(ids));
    }

    [Fact]
    public void WithoutByteFallbackUnknownCharactersBecomeOneUnknownToken()
    {
        var tokenizer = Load(byteFallback: false);
        // fuse_unk merges the run of unknown characters into one <unk>.
        Assert.Equal([Id("▁Hello"), Id("▁"), 0], tokenizer.Encode("Hello éü", addSpecialTokens: false));
    }

    [Fact]
    public void InvalidByteRunsDecodeToOneReplacementCharacterPerByte()
    {
        var tokenizer = Load();
        Assert.Equal("Hello\uFFFD\uFFFD", tokenizer.Decode([Id("▁Hello"), ByteId(0xF0), ByteId(0x9F)]));
    }

    [Fact]
    public void SpecialTokensInTextAreMatchedBeforeNormalisation()
    {
        var tokenizer = Load();
        Assert.Equal([1, Id("▁Hello")], tokenizer.Encode("<s>Hello", addSpecialTokens: false));
        // As in transformers: the decoder sees "<s>" and " Hello" fused, so the space survives.
        Assert.Equal("<s> Hello", tokenizer.Decode([1, Id("▁Hello")], skipSpecialTokens: false));
        Assert.Equal("Hello", tokenizer.Decode([1, Id("▁Hello")]));
    }

    [Fact]
    public void LlamaClassTokenizersTakeBosAndEosFromTokenizerConfig()
    {
        var noBos = Load(tokenizerConfig: """{"bos_token": "<s>", "eos_token": "</s>", "tokenizer_class": "LlamaTokenizer", "add_bos_token": false, "add_eos_token": true}""");
        Assert.Equal([Id("▁Hello"), 2], noBos.Encode("Hello", addSpecialTokens: true));
        Assert.Equal(1, noBos.BosTokenId);
        Assert.True(noBos.StopTokenIds.SetEquals([2]));
    }

    /// <summary>Newer conversions drop the normaliser for a Metaspace pre-tokenizer (prepend_scheme
    /// "first") and a Metaspace decoder.</summary>
    internal static JsonObject MetaspaceTokenizerJson()
    {
        var json = TokenizerJson();
        json["normalizer"] = null;
        json["pre_tokenizer"] = new JsonObject { ["type"] = "Metaspace", ["replacement"] = "▁", ["prepend_scheme"] = "first", ["split"] = false };
        json["decoder"] = new JsonObject
        {
            ["type"] = "Sequence",
            ["decoders"] = new JsonArray(
                new JsonObject { ["type"] = "Metaspace", ["replacement"] = "▁", ["prepend_scheme"] = "first", ["split"] = false },
                new JsonObject { ["type"] = "ByteFallback" },
                new JsonObject { ["type"] = "Fuse" }),
        };
        return json;
    }

    internal static HfTokenizer LoadMetaspace() => HfTokenizer.FromJson(MetaspaceTokenizerJson().ToJsonString());

    [Fact]
    public void MetaspacePreTokenizerLayoutEncodesTheSame()
    {
        var tokenizer = LoadMetaspace();
        Assert.Equal([1, Id("▁Hello"), Id("▁world")], tokenizer.Encode("Hello world", addSpecialTokens: true));
        // "first": only the start of the input gets a marker, not text after a special token.
        Assert.Equal([1, Id("Hello")], tokenizer.Encode("<s>Hello", addSpecialTokens: false));
        Assert.Equal("Hello world é", tokenizer.Decode(tokenizer.Encode("Hello world é", false)));
    }

    [Fact]
    public void LongTextWithoutPreTokenizationStaysFast()
    {
        // With no pre-tokenizer the whole input is one BPE word; the merge loop must not be quadratic.
        var tokenizer = Load();
        var text = string.Concat(Enumerable.Repeat("Hello world ", 2_000));
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var ids = tokenizer.Encode(text, addSpecialTokens: false);
        watch.Stop();
        Assert.Equal(4_000 + 1, ids.Count);   // 2,000 × (▁Hello, ▁world) and the trailing "▁"
        Assert.Equal(text, tokenizer.Decode(ids));
        Assert.True(watch.ElapsedMilliseconds < 2_000, $"{watch.ElapsedMilliseconds} ms");
    }
}
