using System.Text.Json;

namespace Bento.ModelGen.Tests;

public class TokenizerFilesTests(TinyLlamaFixture tiny) : IClassFixture<TinyLlamaFixture>
{
    private JsonDocument Load(string name) => JsonDocument.Parse(File.ReadAllBytes(Path.Combine(tiny.Directory, name)));

    [Fact]
    public void TokenizerJsonHasTheTokenizersLibraryLayout()
    {
        using var doc = Load("tokenizer.json");
        var root = doc.RootElement;
        Assert.Equal(
            new[] { "version", "truncation", "padding", "added_tokens", "normalizer", "pre_tokenizer", "post_processor", "decoder", "model" },
            root.EnumerateObject().Select(p => p.Name));
        Assert.Equal("1.0", root.GetProperty("version").GetString());
        Assert.Equal(JsonValueKind.Null, root.GetProperty("truncation").ValueKind);
        Assert.Equal(JsonValueKind.Null, root.GetProperty("padding").ValueKind);
        Assert.Equal(JsonValueKind.Null, root.GetProperty("normalizer").ValueKind);

        var pre = root.GetProperty("pre_tokenizer");
        Assert.Equal("ByteLevel", pre.GetProperty("type").GetString());
        Assert.False(pre.GetProperty("add_prefix_space").GetBoolean());
        Assert.True(pre.GetProperty("use_regex").GetBoolean());
        Assert.Equal("ByteLevel", root.GetProperty("decoder").GetProperty("type").GetString());
        Assert.Equal("TemplateProcessing", root.GetProperty("post_processor").GetProperty("type").GetString());

        var model = root.GetProperty("model");
        Assert.Equal("BPE", model.GetProperty("type").GetString());
        foreach (var nullField in new[] { "dropout", "unk_token", "continuing_subword_prefix", "end_of_word_suffix" })
            Assert.Equal(JsonValueKind.Null, model.GetProperty(nullField).ValueKind);
        foreach (var falseField in new[] { "fuse_unk", "byte_fallback", "ignore_merges" })
            Assert.False(model.GetProperty(falseField).GetBoolean());

        var merges = model.GetProperty("merges").EnumerateArray().ToList();
        Assert.All(merges, m => Assert.Equal(2, m.GetArrayLength()));
        var vocab = model.GetProperty("vocab").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetInt32());
        Assert.All(merges, m => Assert.Contains(m[0].GetString()! + m[1].GetString()!, vocab.Keys));
        Assert.Equal(Enumerable.Range(0, vocab.Count), vocab.Values.Order());
    }

    [Fact]
    public void VocabularyAndAddedTokensMatchConfigVocabSize()
    {
        using var tokenizer = Load("tokenizer.json");
        using var config = Load("config.json");
        var vocab = tokenizer.RootElement.GetProperty("model").GetProperty("vocab");
        var bpeCount = vocab.EnumerateObject().Count();
        var added = tokenizer.RootElement.GetProperty("added_tokens").EnumerateArray().ToList();

        Assert.Equal(
            new[] { "<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>" },
            added.Select(t => t.GetProperty("content").GetString()));
        Assert.Equal(Enumerable.Range(bpeCount, 5), added.Select(t => t.GetProperty("id").GetInt32()));
        Assert.All(added, t =>
        {
            Assert.True(t.GetProperty("special").GetBoolean());
            foreach (var flag in new[] { "lstrip", "rstrip", "normalized", "single_word" })
                Assert.False(t.GetProperty(flag).GetBoolean());
        });

        var c = config.RootElement;
        Assert.Equal(bpeCount + added.Count, c.GetProperty("vocab_size").GetInt32());
        Assert.Equal(bpeCount, c.GetProperty("bos_token_id").GetInt32());
        Assert.Equal(bpeCount + 1, c.GetProperty("eos_token_id").GetInt32());

        var special = tokenizer.RootElement.GetProperty("post_processor").GetProperty("special_tokens").GetProperty("<|begin_of_text|>");
        Assert.Equal(bpeCount, special.GetProperty("ids")[0].GetInt32());
    }

    [Fact]
    public void TokenizerConfigAndSpecialTokensMapAgree()
    {
        using var config = Load("tokenizer_config.json");
        using var map = Load("special_tokens_map.json");
        var c = config.RootElement;
        Assert.Equal("<|begin_of_text|>", c.GetProperty("bos_token").GetString());
        Assert.Equal("<|end_of_text|>", c.GetProperty("eos_token").GetString());
        Assert.Equal(512, c.GetProperty("model_max_length").GetInt32());
        Assert.Equal("<|eot_id|>", c.GetProperty("added_tokens_decoder").GetProperty("511").GetProperty("content").GetString());
        var template = c.GetProperty("chat_template").GetString()!;
        Assert.Contains("{%- for message in messages %}", template);
        Assert.Contains("'<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + message['content'] + '<|eot_id|>'", template);
        Assert.Contains("add_generation_prompt", template);
        Assert.Equal("<|begin_of_text|>", map.RootElement.GetProperty("bos_token").GetProperty("content").GetString());
        Assert.Equal("<|end_of_text|>", map.RootElement.GetProperty("eos_token").GetProperty("content").GetString());
    }

    [Fact]
    public void GenerationConfigStopsAtEndOfTextAndEndOfTurn()
    {
        using var gen = Load("generation_config.json");
        Assert.Equal(new[] { 508, 511 }, gen.RootElement.GetProperty("eos_token_id").EnumerateArray().Select(e => e.GetInt32()));
        Assert.False(gen.RootElement.GetProperty("do_sample").GetBoolean());
    }
}
