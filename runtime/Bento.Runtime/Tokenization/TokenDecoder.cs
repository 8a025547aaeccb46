using System.Buffers;
using System.Text;
using System.Text.Json;

namespace Bento.Runtime.Tokenization;

/// <summary>
/// tokenizer.json's <c>decoder</c>: turns the token strings of some ids back into text. Like the
/// tokenizers library's decode_chain, each step maps a list of strings to a list of strings and the
/// result is their concatenation, so steps such as Strip can treat the first token specially.
/// </summary>
internal abstract class TokenDecoder
{
    public abstract List<string> DecodeChain(List<string> tokens);

    /// <summary>
    /// The bytes one token contributes in the middle of a text: the chain's per-token steps (Replace, Metaspace,
    /// ByteFallback, ByteLevel) without the positional ones (Strip, and Metaspace's dropped first marker), as raw
    /// bytes, so a token holding part of a UTF-8 character keeps it.
    /// </summary>
    public byte[] TokenBytes(string token)
    {
        var text = token;
        foreach (var step in this is SequenceDecoder sequence ? sequence.Steps : [this])
        {
            switch (step)
            {
                case ByteLevelDecoder:
                    var bytes = new byte[text.Length];
                    for (var i = 0; i < text.Length; i++)
                        if (!ByteLevelAlphabet.TryGetByte(text[i], out bytes[i])) return Encoding.UTF8.GetBytes(text);
                    return bytes;
                case ByteFallbackDecoder when ByteFallbackDecoder.TryParseByteToken(text, out var value):
                    return [value];
                case ReplaceDecoder replace:
                    text = replace.Apply(text);
                    break;
                case MetaspaceDecoder metaspace:
                    text = metaspace.Apply(text);
                    break;
            }
        }
        return Encoding.UTF8.GetBytes(text);
    }

    public static TokenDecoder? FromJson(JsonElement? element)
    {
        if (element is not { ValueKind: JsonValueKind.Object } json)
            return null;
        var type = json.ComponentType();
        return type switch
        {
            "Sequence" => new SequenceDecoder(json.ArrayField("decoders").Select(item => FromJson(item)).OfType<TokenDecoder>().ToArray()),
            "ByteLevel" => new ByteLevelDecoder(),
            "Replace" => new ReplaceDecoder(TextPattern.FromJson(json.Field("pattern"), "decoder Replace"), json.StringField("content") ?? ""),
            "ByteFallback" => new ByteFallbackDecoder(),
            "Fuse" => new FuseDecoder(),
            "Strip" => new StripDecoder(json.StringField("content") ?? " ", json.IntField("start", 0), json.IntField("stop", 0)),
            "Metaspace" => new MetaspaceDecoder(
                json.StringField("replacement") ?? "▁",
                json.StringField("prepend_scheme") is { } scheme ? scheme != "never" : json.BoolField("add_prefix_space", true)),
            _ => throw TokenizerFormatException.Unsupported("decoder", type),
        };
    }

    private sealed class SequenceDecoder(TokenDecoder[] steps) : TokenDecoder
    {
        public TokenDecoder[] Steps => steps;

        public override List<string> DecodeChain(List<string> tokens)
        {
            foreach (var step in steps)
                tokens = step.DecodeChain(tokens);
            return tokens;
        }
    }

    /// <summary>Maps byte-level symbols back to bytes and decodes all of them as one UTF-8 string, so a
    /// character split across tokens comes out whole; invalid sequences become U+FFFD. A token with a
    /// character outside the alphabet (an added token such as "&lt;start of turn&gt;") contributes its
    /// own UTF-8 bytes unchanged.</summary>
    private sealed class ByteLevelDecoder : TokenDecoder
    {
        public override List<string> DecodeChain(List<string> tokens)
        {
            var buffer = new ArrayBufferWriter<byte>();
            foreach (var token in tokens)
            {
                var span = buffer.GetSpan(Encoding.UTF8.GetMaxByteCount(token.Length));
                var written = 0;
                var allSymbols = true;
                foreach (var c in token)
                {
                    if (!ByteLevelAlphabet.TryGetByte(c, out span[written]))
                    {
                        allSymbols = false;
                        break;
                    }
                    written++;
                }
                if (!allSymbols)
                    written = Encoding.UTF8.GetBytes(token, span);
                buffer.Advance(written);
            }
            return [Encoding.UTF8.GetString(buffer.WrittenSpan)];
        }
    }

    private sealed class ReplaceDecoder(TextPattern pattern, string content) : TokenDecoder
    {
        public string Apply(string token) => pattern.Replace(token, content);

        public override List<string> DecodeChain(List<string> tokens) =>
            tokens.Select(token => pattern.Replace(token, content)).ToList();
    }

    /// <summary>Gathers runs of "&lt;0xNN&gt;" tokens into bytes and decodes them as UTF-8; a run that is
    /// not valid UTF-8 becomes one U+FFFD per byte, as the reference does.</summary>
    private sealed class ByteFallbackDecoder : TokenDecoder
    {
        public override List<string> DecodeChain(List<string> tokens)
        {
            var result = new List<string>(tokens.Count);
            var pending = new List<byte>();
            foreach (var token in tokens)
            {
                if (TryParseByteToken(token, out var value))
                {
                    pending.Add(value);
                    continue;
                }
                Flush();
                result.Add(token);
            }
            Flush();
            return result;

            void Flush()
            {
                if (pending.Count == 0)
                    return;
                var bytes = pending.ToArray();
                if (System.Text.Unicode.Utf8.IsValid(bytes))
                    result.Add(Encoding.UTF8.GetString(bytes));
                else
                    result.AddRange(Enumerable.Repeat("\uFFFD", bytes.Length));
                pending.Clear();
            }
        }

        public static bool TryParseByteToken(string token, out byte value)
        {
            value = 0;
            return token.Length == 6 && token.StartsWith("<0x", StringComparison.Ordinal) && token[5] == '>'
                && byte.TryParse(token.AsSpan(3, 2), System.Globalization.NumberStyles.AllowHexSpecifier, null, out value);
        }
    }

    private sealed class FuseDecoder : TokenDecoder
    {
        public override List<string> DecodeChain(List<string> tokens) => [string.Concat(tokens)];
    }

    /// <summary>Removes up to <c>start</c> leading and <c>stop</c> trailing copies of a character from
    /// each token (Llama 2 drops the space its normaliser put before the first word this way).</summary>
    private sealed class StripDecoder(string content, int start, int stop) : TokenDecoder
    {
        private readonly char _character = content.Length > 0 ? content[0] : ' ';

        public override List<string> DecodeChain(List<string> tokens) => tokens.Select(Strip).ToList();

        private string Strip(string token)
        {
            var from = 0;
            while (from < start && from < token.Length && token[from] == _character)
                from++;
            var to = token.Length;
            while (token.Length - to < stop && to > from && token[to - 1] == _character)
                to--;
            return token[from..to];
        }
    }

    /// <summary>"▁" back to spaces, dropping the marker the pre-tokenizer prepended to the first word.</summary>
    private sealed class MetaspaceDecoder(string replacement, bool dropFirstMarker) : TokenDecoder
    {
        public string Apply(string token) => token.Replace(replacement, " ", StringComparison.Ordinal);

        public override List<string> DecodeChain(List<string> tokens)
        {
            var result = new List<string>(tokens.Count);
            for (var i = 0; i < tokens.Count; i++)
            {
                var token = tokens[i];
                if (i == 0 && dropFirstMarker && token.StartsWith(replacement, StringComparison.Ordinal))
                    token = token[replacement.Length..];
                result.Add(token.Replace(replacement, " ", StringComparison.Ordinal));
            }
            return result;
        }
    }
}
