using System.Text;
using Bento.Runtime.Engine;
using Bento.Runtime.Tests.Tokenization;
using Bento.Runtime.Tokenization;

namespace Bento.Runtime.Tests.Engine;

public sealed class OutputTextTests
{
    /// <summary>
    /// OutputText as it was before it decoded incrementally: the whole completion is decoded again for every token.
    /// Quadratic, but obviously right; the incremental one must give exactly the same deltas.
    /// </summary>
    private sealed class FullDecodeOutputText(ITextTokenizer tokenizer, IReadOnlyList<string> stops)
    {
        private readonly List<int> _ids = [];
        private string _text = "";
        private int _emitted;

        public (string Delta, string? MatchedStop) Append(int id)
        {
            _ids.Add(id);
            _text = tokenizer.Decode(_ids, skipSpecialTokens: true);

            var longestStop = stops.Count == 0 ? 0 : stops.Max(s => s.Length);
            var searchFrom = Math.Max(0, _emitted - longestStop);
            int cut = -1;
            string? matched = null;
            foreach (var stop in stops)
            {
                var at = _text.IndexOf(stop, searchFrom, StringComparison.Ordinal);
                if (at >= 0 && (cut < 0 || at < cut)) (cut, matched) = (at, stop);
            }
            if (matched is not null)
            {
                var delta = cut > _emitted ? _text[_emitted..cut] : "";
                _emitted = Math.Max(_emitted, cut);
                return (delta, matched);
            }

            var safe = _text.Length;
            while (safe > _emitted && _text[safe - 1] == '\uFFFD') safe--;
            var holdBack = 0;
            foreach (var stop in stops)
                for (var k = Math.Min(stop.Length - 1, safe - _emitted); k > holdBack; k--)
                    if (string.CompareOrdinal(_text, safe - k, stop, 0, k) == 0) { holdBack = k; break; }
            safe -= holdBack;
            if (safe <= _emitted) return ("", null);
            var text = _text[_emitted..safe];
            _emitted = safe;
            return (text, null);
        }

        public string Flush()
        {
            var rest = _emitted < _text.Length ? _text[_emitted..] : "";
            _emitted = _text.Length;
            return rest;
        }
    }

    private static readonly string[] MultiByte = ["é", "ß", "Ω", "Ж", "€", "日", "語", "한", "😀", "👍", "🚀", "\u200d"];

    /// <summary>Byte-level BPE (the example's tokenizer): any ids at all, so invalid UTF-8 too, or encoded text (the
    /// example has no merges for most scripts, so characters span several tokens) with special tokens mixed in, some
    /// inside a character.</summary>
    private static List<int> ByteLevelIds(Random random, ITextTokenizer tokenizer)
    {
        if (random.Next(3) == 0)
            return Enumerable.Range(0, random.Next(1, 40)).Select(_ => random.Next(tokenizer.VocabSize + 2)).ToList();
        var ids = tokenizer.Encode(ReferenceEncoderEquivalenceTests.RandomText(random, random.Next(1, 30)), addSpecialTokens: false).ToList();
        for (var n = random.Next(4); n > 0; n--)
            ids.Insert(random.Next(ids.Count + 1), 507 + random.Next(5));
        return ids;
    }

    /// <summary>SentencePiece layout: word pieces, "▁", characters as byte-fallback tokens (special tokens sometimes
    /// between their bytes), special tokens, and sometimes an unfinished character at the end.</summary>
    /// <remarks>
    /// The byte runs are valid UTF-8 but for that last character, and it only follows a word piece. The reason: the
    /// ByteFallback decoder turns a whole run of byte tokens into one U+FFFD per byte when the run is not UTF-8, so
    /// while a character is incomplete the full decode briefly shows the characters before it in the same run as
    /// U+FFFD too. Decoding everything saw that; a streaming decoder keeps the text it already has. They differ only
    /// where that shows: in how many U+FFFD a flush in the middle of such a run gives, in a stop string containing
    /// U+FFFD, and in a stop string already found vanishing for a token when the sequence goes on after it
    /// (min_tokens). With <paramref name="separateRuns"/> a word piece follows every character made of bytes, so
    /// runs hold one character and even those cases agree.
    /// </remarks>
    private static List<int> SentencePieceIds(Random random, bool separateRuns)
    {
        var ids = new List<int>();
        var lastWasPiece = true;
        for (var n = random.Next(1, 25); n > 0; n--)
        {
            if (separateRuns && !lastWasPiece)
            {
                ids.Add(259 + random.Next(18));
                lastWasPiece = true;
            }
            switch (random.Next(6))
            {
                case 0 or 1:
                    ids.Add(259 + random.Next(18));
                    lastWasPiece = true;
                    break;
                case 2:
                    ids.Add(3 + random.Next(0x20, 0x7F));   // an ASCII byte token
                    lastWasPiece = false;
                    break;
                case 3 or 4:
                    var bytes = Encoding.UTF8.GetBytes(MultiByte[random.Next(MultiByte.Length)]);
                    var special = random.Next(3) == 0 ? random.Next(1, bytes.Length) : -1;
                    for (var i = 0; i < bytes.Length; i++)
                    {
                        if (i == special)
                            ids.Add(random.Next(3));
                        ids.Add(3 + bytes[i]);
                    }
                    lastWasPiece = false;
                    break;
                default:
                    ids.Add(random.Next(3));   // <unk>, <s>, </s>: special, skipped
                    break;
            }
        }
        if (lastWasPiece && random.Next(4) == 0)
        {
            var bytes = Encoding.UTF8.GetBytes(MultiByte[random.Next(MultiByte.Length)]);
            ids.AddRange(bytes.Take(random.Next(1, bytes.Length)).Select(b => 3 + b));
        }
        return ids;
    }

    /// <summary>Stop strings taken from the text the ids decode to (so they match, often across tokens, and their
    /// prefixes get held back), plus some that never match.</summary>
    private static List<string> Stops(Random random, string text, bool allowReplacementCharacter)
    {
        var stops = new List<string>();
        for (var n = random.Next(4); n > 0; n--)
        {
            if (text.Length > 0 && random.Next(4) != 0)
            {
                var start = random.Next(text.Length);
                var length = random.Next(1, Math.Min(7, text.Length - start + 1));
                var stop = text.Substring(start, length);
                if (!allowReplacementCharacter && stop.Contains('\uFFFD'))
                    continue;
                stops.Add(random.Next(4) == 0 ? stop + "\u0007" : stop);   // sometimes only a prefix matches
            }
            else
            {
                stops.Add(MultiByte[random.Next(MultiByte.Length)] + "x");
            }
        }
        return stops;
    }

    /// <summary>Feeds the ids to both, as the engine does: to the end, or until a stop string unless the request
    /// goes on (min_tokens), then flushes; every delta must be the same.</summary>
    private static void AssertSameDeltas(ITextTokenizer tokenizer, IReadOnlyList<int> ids, IReadOnlyList<string> stops, bool goOnAfterStop, string label)
    {
        var expected = new FullDecodeOutputText(tokenizer, stops);
        var actual = new OutputText(tokenizer, stops);
        var streamed = new List<string>();
        string? firstStop = null;
        for (var i = 0; i < ids.Count; i++)
        {
            var want = expected.Append(ids[i]);
            var got = actual.Append(ids[i]);
            Assert.True(want == got, $"{label}: token {i} of [{string.Join(',', ids)}]: expected {want}, got {got}");
            if (firstStop is null)
                streamed.Add(got.Delta);
            firstStop ??= got.MatchedStop;
            if (got.MatchedStop is not null && !goOnAfterStop)
                return;
        }
        var flushed = actual.Flush();
        Assert.Equal(expected.Flush(), flushed);
        Assert.Equal("", actual.Flush());

        if (firstStop is null)
        {
            // Everything streamed plus the flush is the full decode, and a character is never streamed in pieces.
            var full = tokenizer.Decode(ids);
            Assert.Equal(full, string.Concat(streamed) + flushed);
            if (!full.Contains('\uFFFD'))
                Assert.All(streamed, delta => Assert.DoesNotContain('\uFFFD', delta));
        }
    }

    public static TheoryData<string> Tokenizers => ["byte-level", "sentencepiece", "metaspace"];

    private static ITextTokenizer TokenizerNamed(string name) => name switch
    {
        "byte-level" => TokenizerTestFiles.Example,
        "sentencepiece" => SentencePieceTokenizerTests.Load(),
        _ => SentencePieceTokenizerTests.LoadMetaspace(),
    };

    [Theory]
    [MemberData(nameof(Tokenizers))]
    public void GivesTheSameDeltasAsDecodingEverythingForEveryToken(string name)
    {
        var tokenizer = TokenizerNamed(name);
        var random = new Random(name.Length * 7919 + 1);
        var byteLevel = name == "byte-level";
        for (var run = 0; run < 1500; run++)
        {
            // See SentencePieceIds for what byte-fallback runs leave out; byte-level decoding has no such case.
            var separateRuns = random.Next(2) == 0;
            var ids = byteLevel ? ByteLevelIds(random, tokenizer) : SentencePieceIds(random, separateRuns);
            var stops = Stops(random, tokenizer.Decode(ids), allowReplacementCharacter: byteLevel);
            var goOnAfterStop = (byteLevel || separateRuns) && random.Next(3) == 0;
            AssertSameDeltas(tokenizer, ids, stops, goOnAfterStop, $"{name} run {run} stops [{string.Join(", ", stops)}]");
        }
    }

    [Fact]
    public void LongCompletionsWithStopsMatchTheReference()
    {
        var tokenizer = TokenizerTestFiles.Example;
        var random = new Random(5);
        var text = new StringBuilder();
        for (var i = 0; i < 40; i++)
            text.Append(ReferenceEncoderEquivalenceTests.RandomText(random, 20));
        var ids = tokenizer.Encode(text.ToString(), addSpecialTokens: false);
        AssertSameDeltas(tokenizer, ids, ["\u0007never", "é日", "😀 ", "zz", "a b", "!!!!!!!!"], goOnAfterStop: true, "long");
        AssertSameDeltas(tokenizer, ids, [], goOnAfterStop: false, "long, no stops");
    }

    [Fact]
    public void AStopStringSpanningTokensCutsTheText()
    {
        var tokenizer = SentencePieceTokenizerTests.Load();
        var ids = tokenizer.Encode("Hello world é😀 world", addSpecialTokens: false);
        var output = new OutputText(tokenizer, ["o w", "😀"]);
        var deltas = ids.Select(output.Append).ToList();
        Assert.Equal("Hell", string.Concat(deltas.Select(d => d.Delta)));
        Assert.Equal("o w", deltas.First(d => d.MatchedStop is not null).MatchedStop);
    }

    [Fact]
    public void TheFirstTokenLosesItsLeadingSpaceAsInTheFullDecode()
    {
        var tokenizer = SentencePieceTokenizerTests.Load();
        var output = new OutputText(tokenizer, []);
        var ids = tokenizer.Encode("Hello world", addSpecialTokens: false);   // ▁Hello ▁world
        Assert.Equal(["Hello", " world"], ids.Select(id => output.Append(id).Delta));
        Assert.Equal("", output.Flush());
    }

    [Fact]
    public void AnIncompleteCharacterIsHeldBackAndFlushedAsAReplacementCharacter()
    {
        var tokenizer = TokenizerTestFiles.Example;
        var euro = tokenizer.Encode("€", addSpecialTokens: false);
        Assert.True(euro.Count > 1);
        var output = new OutputText(tokenizer, []);
        Assert.Equal("ok", string.Concat(tokenizer.Encode("ok", false).Select(id => output.Append(id).Delta)));
        Assert.Equal(("", null), output.Append(euro[0]));
        Assert.Equal("\uFFFD", output.Flush());
        Assert.Equal("", output.Flush());
    }

    [Fact]
    public void DecodingCostPerTokenDoesNotGrowWithTheCompletion()
    {
        var counting = new CountingTokenizer(TokenizerTestFiles.Example);
        var random = new Random(11);
        var text = new StringBuilder();
        while (text.Length < 6_000)
            text.Append(ReferenceEncoderEquivalenceTests.RandomText(random, 20));
        var ids = counting.Encode(text.ToString(), addSpecialTokens: false).ToList();
        // Runs of special tokens in between, which decode to nothing.
        for (var i = 0; i < 20; i++)
            ids.InsertRange(random.Next(ids.Count), Enumerable.Repeat(511, 50));
        Assert.True(ids.Count > 5_000, $"{ids.Count} ids");

        var output = new OutputText(counting, ["\u0007", "never seen", "🚀🚀🚀"]);
        var streamed = new StringBuilder();
        foreach (var id in ids)
            streamed.Append(output.Append(id).Delta);
        streamed.Append(output.Flush());
        Assert.Equal(TokenizerTestFiles.Example.Decode(ids), streamed.ToString());

        // Decoding everything for every token would decode ids.Count² / 2 ids (over 12 million here); each decode now
        // sees a few tokens around the newest one however many came before.
        Assert.True(counting.LongestDecode <= 8, $"longest decode: {counting.LongestDecode} ids");
        Assert.True(counting.DecodeCalls <= 2 * ids.Count + 1, $"{counting.DecodeCalls} decode calls for {ids.Count} tokens");
        Assert.True(counting.IdsDecoded <= 8L * ids.Count, $"{counting.IdsDecoded} ids decoded for {ids.Count} tokens");
    }
}
