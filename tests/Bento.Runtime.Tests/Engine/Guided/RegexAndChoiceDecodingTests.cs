using System.Text.RegularExpressions;
using Bento.Runtime.Engine.Guided;
using Bento.Runtime.Tests.Tokenization;
using Bento.Runtime.Tokenization;

namespace Bento.Runtime.Tests.Engine.Guided;

/// <summary>guided_regex and guided_choice: outputs fully match .NET's own regex engine, or are one of the choices.</summary>
public sealed class RegexAndChoiceDecodingTests
{
    [Theory]
    [InlineData(@"\d{3}-\d{4}")]
    [InlineData(@"(cat|dog)s?( and (cat|dog)s?)*")]
    [InlineData(@"^[a-z]{1,8}@[a-z]{2,6}\.(com|org|net)$")]
    [InlineData(@"-?(0|[1-9]\d*)(\.\d+)?")]
    [InlineData(@"[α-ωÀ-ÿ]{2,5}!")]
    [InlineData(@"[ -~]{1,10}")]
    [InlineData(@"(?:yes|no|maybe)\.?")]
    [InlineData(@"\w+\s[!-/]?")]
    [InlineData(@"a{2}b{0,3}c+?")]
    [InlineData(@"[\x41-\x43\u00e9]+x")]
    public void Every_finished_output_fully_matches_the_regex(string pattern)
    {
        var tokenizer = TokenizerTestFiles.Example;
        var compiled = GuidedCompiler.Compile(tokenizer, GuidedSpec.Regex(pattern, "guided_regex"));
        // ECMAScript: \d \w \s are ASCII classes, as in our compiler.
        var reference = new Regex($"^(?:{pattern.TrimStart('^').TrimEnd('$')})$", RegexOptions.ECMAScript);
        var finished = 0;
        for (var seed = 0; seed < 40; seed++)
        {
            var walk = GuidedWalk.Run(compiled, tokenizer, seed, maxTokens: 200);
            if (!walk.Finished) continue;
            finished++;
            Assert.True(reference.IsMatch(walk.Text), $"seed {seed}: '{walk.Text}' does not match {pattern}");
        }
        Assert.True(finished >= 30, $"{finished} of 40 finished");
    }

    /// <summary>A class counts characters, not UTF-16 units or bytes: an astral character is one.</summary>
    [Fact]
    public void Dot_matches_one_character_whatever_its_encoded_length()
    {
        var tokenizer = TokenizerTestFiles.Example;
        var compiled = GuidedCompiler.Compile(tokenizer, GuidedSpec.Regex(".{3}", "guided_regex"));
        for (var seed = 0; seed < 30; seed++)
        {
            var walk = GuidedWalk.Run(compiled, tokenizer, seed, maxTokens: 30);
            Assert.True(walk.Finished);
            var runes = walk.Text.EnumerateRunes().ToList();
            Assert.Equal(3, runes.Count);
            Assert.DoesNotContain(new System.Text.Rune('\n'), runes);
            Assert.DoesNotContain(System.Text.Rune.ReplacementChar, runes);
        }
    }

    [Fact]
    public void Choices_come_out_whole_and_all_of_them_can()
    {
        var tokenizer = TokenizerTestFiles.Example;
        string[] choices = ["positive", "negative", "neutral", "n/a ✓"];
        var compiled = GuidedCompiler.Compile(tokenizer, GuidedSpec.Choice(choices, "guided_choice"));
        var seen = new HashSet<string>();
        for (var seed = 0; seed < 60; seed++)
        {
            var walk = GuidedWalk.Run(compiled, tokenizer, seed, maxTokens: 50);
            Assert.True(walk.Finished);
            Assert.Contains(walk.Text, choices);
            seen.Add(walk.Text);
        }
        Assert.Equal(choices.Order(), seen.Order());
    }

    [Theory]
    [InlineData("(a|b", "missing ')'")]
    [InlineData("a)", "unbalanced ')'")]
    [InlineData("(?=a)b", "lookaround")]
    [InlineData(@"\bword\b", @"the assertion \b")]
    [InlineData("(a)\\1", "backreferences")]
    [InlineData("[z-a]", "out of order")]
    [InlineData("*a", "nothing to repeat")]
    [InlineData("a{5,2}", "maximum below its minimum")]
    [InlineData("a{2000}", "repeat counts above")]
    [InlineData("(?i)abc", "inline flags")]
    [InlineData(@"\p{L}", "Unicode property classes")]
    [InlineData("((ab){1000}){1000}", "too large to enforce")]
    public void Bad_or_unsupported_regexes_are_refused_naming_the_field(string pattern, string expected)
    {
        var e = Assert.Throws<GuidedDecodingException>(() => GuidedSpec.Regex(pattern, "guided_regex"));
        Assert.Equal("guided_regex", e.Param);
        Assert.Contains(expected, e.Message);
    }

    /// <summary>SentencePiece vocabularies: "▁" is a space and &lt;0xNN&gt; a raw byte, so the grammar sees real text.</summary>
    [Fact]
    public void SentencePiece_pieces_match_as_the_text_they_decode_to()
    {
        var tokenizer = SentencePieceTokenizerTests.Load();
        var hello = tokenizer.TokenToId("▁Hello")!.Value;
        Assert.Equal(" Hello"u8.ToArray(), tokenizer.TokenBytes(hello));
        Assert.Equal(new byte[] { 0x0A }, tokenizer.TokenBytes(tokenizer.TokenToId("<0x0A>")!.Value));
        Assert.Null(tokenizer.TokenBytes(tokenizer.TokenToId("</s>")!.Value));

        var compiled = GuidedCompiler.Compile(tokenizer, GuidedSpec.Regex("Hello world!\n", "guided_regex"));
        for (var seed = 0; seed < 10; seed++)
        {
            var walk = GuidedWalk.Run(compiled, tokenizer, seed, maxTokens: 40);
            Assert.True(walk.Finished);
            Assert.Equal("Hello world!\n", tokenizer.Decode(walk.Ids));
        }
    }
}
