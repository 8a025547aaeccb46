using System.Text.Json.Nodes;
using Bento.Runtime.Tokenization;

namespace Bento.Runtime.Tests.Tokenization;

/// <summary>The files around tokenizer.json, and tokenizer.json components we refuse.</summary>
public sealed class TokenizerFilesTests
{
    private static string ExampleJson => TokenizerTestFiles.ReadExample("tokenizer.json");

    [Theory]
    [InlineData("normalizer", """{"type": "Precompiled", "precompiled_charsmap": ""}""", "Precompiled")]
    [InlineData("pre_tokenizer", """{"type": "BertPreTokenizer"}""", "BertPreTokenizer")]
    [InlineData("decoder", """{"type": "WordPiece", "prefix": "##"}""", "WordPiece")]
    [InlineData("post_processor", """{"type": "SomethingNew"}""", "SomethingNew")]
    public void UnsupportedComponentsAreNamed(string component, string json, string type)
    {
        var tokenizerJson = TokenizerTestFiles.ExampleTokenizerJson();
        tokenizerJson[component] = JsonNode.Parse(json);
        var error = Assert.Throws<TokenizerFormatException>(() => TokenizerTestFiles.WithTokenizerJson(tokenizerJson));
        Assert.Contains(component, error.Message);
        Assert.Contains(type, error.Message);
    }

    [Fact]
    public void UnsupportedModelTypesAreNamed()
    {
        var tokenizerJson = TokenizerTestFiles.ExampleTokenizerJson();
        tokenizerJson["model"]!["type"] = "Unigram";
        var error = Assert.Throws<TokenizerFormatException>(() => TokenizerTestFiles.WithTokenizerJson(tokenizerJson));
        Assert.Contains("model", error.Message);
        Assert.Contains("Unigram", error.Message);
    }

    [Fact]
    public void AFolderWithoutTokenizerJsonIsRefused()
    {
        var directory = Directory.CreateTempSubdirectory("bento-tokenizer-");
        try
        {
            var error = Assert.Throws<TokenizerFormatException>(() => HfTokenizer.Load(directory.FullName));
            Assert.Contains("tokenizer.json", error.Message);
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    [Fact]
    public void EosIdsComeFromGenerationConfigAsANumberOrAList()
    {
        var single = HfTokenizer.FromJson(ExampleJson, """{"eos_token": "<|end_of_text|>"}""", """{"eos_token_id": 511}""");
        Assert.True(single.StopTokenIds.SetEquals([508, 511]));

        var list = HfTokenizer.FromJson(ExampleJson, null, """{"eos_token_id": [509, 510]}""");
        Assert.True(list.StopTokenIds.SetEquals([509, 510]));
        Assert.Null(list.EosTokenId);
    }

    [Fact]
    public void SpecialTokensMayBeWrittenAsObjects()
    {
        var tokenizer = HfTokenizer.FromJson(ExampleJson,
            """{"bos_token": {"content": "<|begin_of_text|>", "lstrip": false}, "eos_token": {"__type": "AddedToken", "content": "<|eot_id|>"}}""");
        Assert.Equal(507, tokenizer.BosTokenId);
        Assert.Equal(511, tokenizer.EosTokenId);
    }

    [Fact]
    public void SpecialTokensMapOverridesTokenizerConfig()
    {
        var tokenizer = HfTokenizer.FromJson(ExampleJson, """{"eos_token": "<|end_of_text|>"}""", null, """{"eos_token": {"content": "<|eot_id|>"}}""");
        Assert.Equal(511, tokenizer.EosTokenId);
    }

    [Fact]
    public void BosFallsBackToGenerationConfig()
    {
        var tokenizer = HfTokenizer.FromJson(ExampleJson, null, """{"bos_token_id": 507, "eos_token_id": 508}""");
        Assert.Equal(507, tokenizer.BosTokenId);
    }

    [Fact]
    public void ChatTemplatesMayBeANamedList()
    {
        var tokenizer = HfTokenizer.FromJson(ExampleJson,
            """{"chat_template": [{"name": "default", "template": "A{{ messages | length }}"}, {"name": "tool_use", "template": "T"}]}""");
        Assert.Equal(["default", "tool_use"], tokenizer.ChatTemplates.Keys.Order());
        Assert.Equal("A1", tokenizer.GetChatTemplate()!.Render([new ChatMessage("user", "x")], addGenerationPrompt: false));
        Assert.Equal("T", tokenizer.GetChatTemplate("tool_use")!.Render([], addGenerationPrompt: false));
    }

    [Fact]
    public void ChatTemplateJinjaFileTakesPrecedence()
    {
        var directory = Directory.CreateTempSubdirectory("bento-tokenizer-");
        try
        {
            foreach (var file in new[] { "tokenizer.json", "tokenizer_config.json", "generation_config.json", "special_tokens_map.json" })
                File.Copy(Path.Combine(TokenizerTestFiles.ExampleDirectory, file), Path.Combine(directory.FullName, file));
            File.WriteAllText(Path.Combine(directory.FullName, "chat_template.jinja"), "{{ bos_token }}jinja file\n");
            var tokenizer = HfTokenizer.Load(directory.FullName);
            Assert.Equal("<|begin_of_text|>jinja file", tokenizer.GetChatTemplate()!.Render([], false, tokenizer.BosToken, tokenizer.EosToken));
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    [Fact]
    public void AddedTokensOnlyInTokenizerConfigAreRegistered()
    {
        var tokenizer = HfTokenizer.FromJson(ExampleJson,
            """{"added_tokens_decoder": {"600": {"content": "<tool>", "special": true, "normalized": false}}}""");
        Assert.Equal(601, tokenizer.VocabSize);
        Assert.Equal([49, 600], tokenizer.Encode("1<tool>", addSpecialTokens: false));
        Assert.True(tokenizer.IsSpecial(600));
    }

    [Fact]
    public void AddedTokenFlagsAreHonoured()
    {
        var json = TokenizerTestFiles.ExampleTokenizerJson();
        var added = json["added_tokens"]!.AsArray();
        added.Add(new JsonObject { ["id"] = 600, ["content"] = "<mark>", ["special"] = false, ["lstrip"] = true, ["rstrip"] = true, ["normalized"] = true, ["single_word"] = false });
        added.Add(new JsonObject { ["id"] = 601, ["content"] = "cat", ["special"] = false, ["single_word"] = true, ["normalized"] = false });
        var tokenizer = TokenizerTestFiles.WithTokenizerJson(json);
        var reference = TokenizerTestFiles.Example;

        // lstrip/rstrip swallow the spaces around <mark>; a non-special token survives skipSpecialTokens.
        Assert.Equal(reference.Encode("1", false).Append(600).Concat(reference.Encode("2", false)), tokenizer.Encode("1  <mark>  2", false));
        Assert.Equal("1<mark>2", tokenizer.Decode(tokenizer.Encode("1  <mark>  2", false)));
        Assert.False(tokenizer.IsSpecial(600));

        // single_word: "cat" alone is the token, inside "cats" it is not.
        Assert.Contains(601, tokenizer.Encode("a cat sat", false));
        Assert.DoesNotContain(601, tokenizer.Encode("cats", false));
    }

    [Fact]
    public void EncodingIsSafeFromManyThreads()
    {
        var tokenizer = TokenizerTestFiles.WithTokenizerJson(TokenizerTestFiles.ExampleTokenizerJson());
        var lines = Bento.ModelGen.SyntheticCorpus.Lines(seed: 21, lineCount: 400).ToList();
        var expected = lines.Select(line => TokenizerTestFiles.Reference.Encode(line, addBeginOfText: true)).ToList();
        Parallel.For(0, lines.Count, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i =>
            Assert.Equal(expected[i], tokenizer.Encode(lines[i], addSpecialTokens: true)));
    }
}
