using System.Text.Json;

namespace Bento.Runtime.Tokenization;

/// <summary>
/// tokenizer.json's <c>pre_tokenizer</c>: cuts normalised text into the pieces BPE merges within (merges
/// never cross a piece boundary). Llama 3 uses <c>Sequence[Split(its regex, Isolated), ByteLevel(no regex)]</c>;
/// GPT-2-style files use ByteLevel with its built-in regex.
/// </summary>
internal abstract class PreTokenizer
{
    /// <summary>GPT-2's split, which ByteLevel applies when use_regex is true.</summary>
    public const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    /// <summary>Appends the pieces of <paramref name="text"/> to <paramref name="output"/>.</summary>
    /// <param name="atInputStart">Whether <paramref name="text"/> begins the input (Metaspace's
    /// prepend_scheme "first" only marks that piece).</param>
    public abstract void Split(string text, bool atInputStart, List<string> output);

    public static PreTokenizer? FromJson(JsonElement? element)
    {
        if (element is not { ValueKind: JsonValueKind.Object } json)
            return null;
        var type = json.ComponentType();
        return type switch
        {
            "Sequence" => new SequencePreTokenizer(json.ArrayField("pretokenizers").Select(item => FromJson(item)).OfType<PreTokenizer>().ToArray()),
            "ByteLevel" => new ByteLevelPreTokenizer(json.BoolField("add_prefix_space", false), json.BoolField("use_regex", true)),
            "Split" => new RegexSplitPreTokenizer(
                TextPattern.FromJson(json.Field("pattern"), "pre_tokenizer Split"),
                SplitBehaviors.Parse(json.StringField("behavior"), "pre_tokenizer Split"),
                json.BoolField("invert", false)),
            "Metaspace" => MetaspacePreTokenizer.FromJson(json),
            "Digits" => new DigitsPreTokenizer(json.BoolField("individual_digits", false)),
            "Whitespace" => new RegexSplitPreTokenizer(new ScalarRegex(@"\w+|[^\w\s]+", "pre_tokenizer Whitespace"), SplitBehavior.Removed, invert: true),
            "WhitespaceSplit" => new RegexSplitPreTokenizer(new ScalarRegex(@"\s+", "pre_tokenizer WhitespaceSplit"), SplitBehavior.Removed, invert: false),
            _ => throw TokenizerFormatException.Unsupported("pre_tokenizer", type),
        };
    }

    /// <summary>Each step re-splits every piece the previous step produced.</summary>
    private sealed class SequencePreTokenizer(PreTokenizer[] steps) : PreTokenizer
    {
        public override void Split(string text, bool atInputStart, List<string> output)
        {
            var pieces = new List<string> { text };
            foreach (var step in steps)
            {
                var next = new List<string>(pieces.Count * 2);
                for (var i = 0; i < pieces.Count; i++)
                    step.Split(pieces[i], atInputStart && i == 0, next);
                pieces = next;
            }
            output.AddRange(pieces);
        }
    }

    /// <summary>Optionally splits with GPT-2's regex, then rewrites each piece in the byte-level alphabet
    /// (UTF-8 bytes as printable symbols), which is what the vocabulary is spelled in.</summary>
    private sealed class ByteLevelPreTokenizer(bool addPrefixSpace, bool useRegex) : PreTokenizer
    {
        private static readonly Lazy<ScalarRegex> Gpt2Regex = new(() => new ScalarRegex(Gpt2Pattern, "pre_tokenizer ByteLevel"));

        public override void Split(string text, bool atInputStart, List<string> output)
        {
            if (addPrefixSpace && !text.StartsWith(' '))
                text = " " + text;
            if (!useRegex)
            {
                if (text.Length > 0)
                    output.Add(ByteLevelAlphabet.Encode(text));
                return;
            }
            var pieces = new List<string>();
            SplitBehaviors.Apply(text, Gpt2Regex.Value.Matches(text), SplitBehavior.Isolated, invert: false, pieces);
            foreach (var piece in pieces)
                output.Add(ByteLevelAlphabet.Encode(piece));
        }
    }

    private sealed class RegexSplitPreTokenizer : PreTokenizer
    {
        private readonly Func<string, List<(int Start, int Length)>> _matches;
        private readonly SplitBehavior _behavior;
        private readonly bool _invert;

        public RegexSplitPreTokenizer(TextPattern pattern, SplitBehavior behavior, bool invert)
            : this(pattern.Matches, behavior, invert) { }

        public RegexSplitPreTokenizer(ScalarRegex regex, SplitBehavior behavior, bool invert)
            : this(regex.Matches, behavior, invert) { }

        private RegexSplitPreTokenizer(Func<string, List<(int Start, int Length)>> matches, SplitBehavior behavior, bool invert)
        {
            _matches = matches;
            _behavior = behavior;
            _invert = invert;
        }

        public override void Split(string text, bool atInputStart, List<string> output) =>
            SplitBehaviors.Apply(text, _matches(text), _behavior, _invert, output);
    }

    /// <summary>SentencePiece's word marker as a pre-tokenizer: spaces become "▁", a "▁" is prepended
    /// (always, or only to the start of the input), and with split each piece starts at a "▁".</summary>
    private sealed class MetaspacePreTokenizer(string replacement, MetaspacePreTokenizer.Prepend prepend, bool split) : PreTokenizer
    {
        public enum Prepend { Always, First, Never }

        public static MetaspacePreTokenizer FromJson(JsonElement json)
        {
            var replacement = json.StringField("replacement") ?? "▁";
            var scheme = json.StringField("prepend_scheme") switch
            {
                "always" => Prepend.Always,
                "first" => Prepend.First,
                "never" => Prepend.Never,
                null => json.BoolField("add_prefix_space", true) ? Prepend.Always : Prepend.Never,
                var other => throw new TokenizerFormatException($"tokenizer.json: pre_tokenizer Metaspace has unknown prepend_scheme '{other}'"),
            };
            return new MetaspacePreTokenizer(replacement, scheme, json.BoolField("split", true));
        }

        public override void Split(string text, bool atInputStart, List<string> output)
        {
            text = text.Replace(" ", replacement, StringComparison.Ordinal);
            var prependHere = prepend == Prepend.Always || (prepend == Prepend.First && atInputStart);
            if (prependHere && !text.StartsWith(replacement, StringComparison.Ordinal))
                text = replacement + text;
            if (!split)
            {
                if (text.Length > 0)
                    output.Add(text);
                return;
            }
            var markers = new List<(int Start, int Length)>();
            for (var at = text.IndexOf(replacement, StringComparison.Ordinal); at >= 0;
                 at = text.IndexOf(replacement, at + replacement.Length, StringComparison.Ordinal))
            {
                markers.Add((at, replacement.Length));
            }
            SplitBehaviors.Apply(text, markers, SplitBehavior.MergedWithNext, invert: false, output);
        }
    }

    /// <summary>Separates digits from other characters, each digit alone or as runs.</summary>
    private sealed class DigitsPreTokenizer(bool individualDigits) : PreTokenizer
    {
        private static readonly ScalarRegex DigitRegex = new(@"\p{N}", "pre_tokenizer Digits");

        public override void Split(string text, bool atInputStart, List<string> output) =>
            SplitBehaviors.Apply(text, DigitRegex.Matches(text), individualDigits ? SplitBehavior.Isolated : SplitBehavior.Contiguous, invert: false, output);
    }
}
