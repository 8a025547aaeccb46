using System.Text.Json;

namespace Bento.ModelGen;

/// <summary>
/// Writes the Hugging Face tokenizer files for a <see cref="LlamaTokenizer"/>: <c>tokenizer.json</c>
/// (loadable by the tokenizers library), <c>tokenizer_config.json</c> (transformers' settings and the
/// chat template) and <c>special_tokens_map.json</c>.
/// </summary>
public static class TokenizerJsonWriter
{
    /// <summary>Llama 3 style chat template: bos, then each message as
    /// &lt;|start_header_id|&gt;role&lt;|end_header_id|&gt;\n\ncontent&lt;|eot_id|&gt;, then, when asked, the
    /// header that opens the assistant's turn. The newlines are literal characters inside the Jinja
    /// strings so no engine has to interpret escape sequences.</summary>
    public const string ChatTemplate =
        "{{- bos_token }}"
        + "{%- for message in messages %}"
        + "{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + message['content'] + '<|eot_id|>' }}"
        + "{%- endfor %}"
        + "{%- if add_generation_prompt %}"
        + "{{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}"
        + "{%- endif %}";

    /// <summary>tokenizer.json in the tokenizers library's own layout (field order as it serialises).</summary>
    public static byte[] ToTokenizerJson(LlamaTokenizer tokenizer) => JsonText.Build(w =>
    {
        w.WriteStartObject();
        w.WriteString("version", "1.0");
        w.WriteNull("truncation");
        w.WriteNull("padding");

        w.WriteStartArray("added_tokens");
        foreach (var token in LlamaTokenizer.SpecialTokens)
        {
            w.WriteStartObject();
            w.WriteNumber("id", tokenizer.SpecialTokenId(token));
            w.WriteString("content", token);
            w.WriteBoolean("single_word", false);
            w.WriteBoolean("lstrip", false);
            w.WriteBoolean("rstrip", false);
            w.WriteBoolean("normalized", false);
            w.WriteBoolean("special", true);
            w.WriteEndObject();
        }
        w.WriteEndArray();

        w.WriteNull("normalizer");

        // add_prefix_space false: Llama 3 does not invent a leading space; use_regex true applies the
        // GPT-2 split our trainer used.
        w.WriteStartObject("pre_tokenizer");
        w.WriteString("type", "ByteLevel");
        w.WriteBoolean("add_prefix_space", false);
        w.WriteBoolean("trim_offsets", true);
        w.WriteBoolean("use_regex", true);
        w.WriteEndObject();

        // Prepend <|begin_of_text|> to every encoded sequence, as Llama 3 does.
        var bos = LlamaTokenizer.BeginOfText;
        w.WriteStartObject("post_processor");
        w.WriteString("type", "TemplateProcessing");
        w.WriteStartArray("single");
        WriteSpecialPiece(w, bos, 0);
        WriteSequencePiece(w, "A", 0);
        w.WriteEndArray();
        w.WriteStartArray("pair");
        WriteSpecialPiece(w, bos, 0);
        WriteSequencePiece(w, "A", 0);
        WriteSpecialPiece(w, bos, 1);
        WriteSequencePiece(w, "B", 1);
        w.WriteEndArray();
        w.WriteStartObject("special_tokens");
        w.WriteStartObject(bos);
        w.WriteString("id", bos);
        w.WriteStartArray("ids");
        w.WriteNumberValue(tokenizer.BeginOfTextId);
        w.WriteEndArray();
        w.WriteStartArray("tokens");
        w.WriteStringValue(bos);
        w.WriteEndArray();
        w.WriteEndObject();
        w.WriteEndObject();
        w.WriteEndObject();

        w.WriteStartObject("decoder");
        w.WriteString("type", "ByteLevel");
        w.WriteBoolean("add_prefix_space", true);
        w.WriteBoolean("trim_offsets", true);
        w.WriteBoolean("use_regex", true);
        w.WriteEndObject();

        w.WriteStartObject("model");
        w.WriteString("type", "BPE");
        w.WriteNull("dropout");
        w.WriteNull("unk_token");
        w.WriteNull("continuing_subword_prefix");
        w.WriteNull("end_of_word_suffix");
        w.WriteBoolean("fuse_unk", false);
        w.WriteBoolean("byte_fallback", false);
        w.WriteBoolean("ignore_merges", false);
        w.WriteStartObject("vocab");
        for (var id = 0; id < tokenizer.Bpe.VocabSize; id++)
            w.WriteNumber(tokenizer.Bpe.Vocab[id], id);
        w.WriteEndObject();
        // Pair arrays rather than "left right" strings: unambiguous even if a symbol held a space.
        w.WriteStartArray("merges");
        foreach (var merge in tokenizer.Bpe.Merges)
        {
            w.WriteStartArray();
            w.WriteStringValue(merge.Left);
            w.WriteStringValue(merge.Right);
            w.WriteEndArray();
        }
        w.WriteEndArray();
        w.WriteEndObject();

        w.WriteEndObject();
    });

    /// <summary>tokenizer_config.json (keys sorted, as transformers writes them).</summary>
    public static byte[] ToTokenizerConfigJson(LlamaTokenizer tokenizer) => JsonText.Build(w =>
    {
        w.WriteStartObject();
        w.WriteStartObject("added_tokens_decoder");
        foreach (var token in LlamaTokenizer.SpecialTokens)
        {
            w.WriteStartObject(tokenizer.SpecialTokenId(token).ToString(System.Globalization.CultureInfo.InvariantCulture));
            w.WriteString("content", token);
            w.WriteBoolean("lstrip", false);
            w.WriteBoolean("normalized", false);
            w.WriteBoolean("rstrip", false);
            w.WriteBoolean("single_word", false);
            w.WriteBoolean("special", true);
            w.WriteEndObject();
        }
        w.WriteEndObject();
        w.WriteString("bos_token", LlamaTokenizer.BeginOfText);
        w.WriteString("chat_template", ChatTemplate);
        // false keeps decode(encode(text)) == text; true would delete spaces before punctuation.
        w.WriteBoolean("clean_up_tokenization_spaces", false);
        w.WriteString("eos_token", LlamaTokenizer.EndOfText);
        w.WriteStartArray("model_input_names");
        w.WriteStringValue("input_ids");
        w.WriteStringValue("attention_mask");
        w.WriteEndArray();
        w.WriteNumber("model_max_length", tokenizer.ModelMaxLength);
        w.WriteString("tokenizer_class", "PreTrainedTokenizerFast");
        w.WriteEndObject();
    });

    /// <summary>special_tokens_map.json with the full added-token form Llama 3 uses.</summary>
    public static byte[] ToSpecialTokensMapJson() => JsonText.Build(w =>
    {
        w.WriteStartObject();
        WriteTokenObject(w, "bos_token", LlamaTokenizer.BeginOfText);
        WriteTokenObject(w, "eos_token", LlamaTokenizer.EndOfText);
        w.WriteEndObject();
    });

    private static void WriteTokenObject(Utf8JsonWriter w, string key, string content)
    {
        w.WriteStartObject(key);
        w.WriteString("content", content);
        w.WriteBoolean("lstrip", false);
        w.WriteBoolean("normalized", false);
        w.WriteBoolean("rstrip", false);
        w.WriteBoolean("single_word", false);
        w.WriteEndObject();
    }

    private static void WriteSpecialPiece(Utf8JsonWriter w, string token, int typeId)
    {
        w.WriteStartObject();
        w.WriteStartObject("SpecialToken");
        w.WriteString("id", token);
        w.WriteNumber("type_id", typeId);
        w.WriteEndObject();
        w.WriteEndObject();
    }

    private static void WriteSequencePiece(Utf8JsonWriter w, string sequence, int typeId)
    {
        w.WriteStartObject();
        w.WriteStartObject("Sequence");
        w.WriteString("id", sequence);
        w.WriteNumber("type_id", typeId);
        w.WriteEndObject();
        w.WriteEndObject();
    }
}
