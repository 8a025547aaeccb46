using System.Globalization;

namespace Bento.Runtime.Engine.Guided;

/// <summary>
/// Compiles a regular expression to a byte grammar that matches exactly the strings the regex fully matches (as
/// vLLM's guided_regex and JSON schema's <c>pattern</c> are applied: the whole output, or the whole string value).
/// The common syntax of Python and ECMAScript: literals, <c>.</c>, classes with ranges and negation, <c>\d \w \s</c> (ASCII)
/// and their negations, escapes (<c>\n \t \xHH \uHHHH</c>), groups (capturing, <c>(?:...)</c>, named), alternation,
/// <c>* + ? {n} {n,} {n,m}</c> (lazy forms too: full matching makes them equal), and <c>^</c>/<c>$</c> at the ends.
/// What cannot be a finite automaton or is rarely meant (backreferences, lookaround, word boundaries, inline flags)
/// is refused naming the construct.
/// </summary>
internal sealed class RegexCompiler
{
    /// <summary>Repeats above this are refused: the automaton grows with the count.</summary>
    public const int MaxRepeat = 1000;

    private static readonly CodePointSet Digits = CodePointSet.Of(('0', '9'));
    private static readonly CodePointSet Word = CodePointSet.Of(('0', '9'), ('A', 'Z'), ('_', '_'), ('a', 'z'));
    // \d \w \s are ASCII classes (ECMAScript's \d and \w; \s without the Unicode spaces), predictable across clients.
    private static readonly CodePointSet Space = CodePointSet.Of(('\t', '\r'), (' ', ' '));
    private static readonly CodePointSet JsonSpecial = CodePointSet.Of((0, 0x1F), ('"', '"'), ('\\', '\\'));

    private readonly string _pattern;
    private readonly string _param;
    private readonly bool _jsonString;
    private int _pos;

    private RegexCompiler(string pattern, string param, bool jsonString) => (_pattern, _param, _jsonString) = (pattern, param, jsonString);

    /// <param name="jsonString">Match the text as it appears inside a JSON string: characters JSON must escape are
    /// produced in their escaped form.</param>
    public static GrammarNode Compile(string pattern, string param, bool jsonString = false)
    {
        var compiler = new RegexCompiler(pattern, param, jsonString);
        if (pattern.StartsWith('^')) compiler._pos = 1;
        var node = compiler.Alternation();
        if (compiler._pos < pattern.Length) throw compiler.Error(pattern[compiler._pos] == ')' ? "unbalanced ')'" : $"unexpected '{pattern[compiler._pos]}'");
        return node;
    }

    /// <summary>The characters of <paramref name="set"/> as output bytes (JSON-escaped where required in a JSON string).</summary>
    public static GrammarNode CharSet(CodePointSet set, bool jsonString)
    {
        if (!jsonString) return set.ToUtf8();
        var plain = set.Except(JsonSpecial);
        var alternatives = new List<GrammarNode>();
        if (!plain.IsEmpty) alternatives.Add(plain.ToUtf8());
        foreach (var (lo, hi) in set.Intersect(JsonSpecial).Ranges)
            for (var c = lo; c <= hi; c++) alternatives.Add(GrammarNode.Text(JsonEscape(c)));
        return alternatives.Count == 0 ? new ByteSetNode(new ByteSet()) : GrammarNode.Alt(alternatives.ToArray());
    }

    public static string JsonEscape(int c) => c switch
    {
        '"' => "\\\"",
        '\\' => "\\\\",
        '\b' => "\\b",
        '\f' => "\\f",
        '\n' => "\\n",
        '\r' => "\\r",
        '\t' => "\\t",
        < 0x20 => $"\\u{c:x4}",
        _ => char.ConvertFromUtf32(c),
    };

    private GuidedDecodingException Error(string what) =>
        new($"{_param}: the regex '{_pattern}' is not supported or invalid at position {_pos}: {what}", _param);

    private bool AtEnd => _pos >= _pattern.Length;
    private char Peek => _pattern[_pos];

    private GrammarNode Alternation()
    {
        var branches = new List<GrammarNode> { Sequence() };
        while (!AtEnd && Peek == '|')
        {
            _pos++;
            branches.Add(Sequence());
        }
        return GrammarNode.Alt(branches.ToArray());
    }

    private GrammarNode Sequence()
    {
        var items = new List<GrammarNode>();
        while (!AtEnd && Peek != '|' && Peek != ')')
        {
            if (Peek == '$')
            {
                _pos++;
                if (!AtEnd && Peek != '|' && Peek != ')') throw Error("'$' is only supported at the end");
                continue;
            }
            if (Peek == '^') throw Error("'^' is only supported at the start");
            var atom = Atom();
            items.Add(Quantified(atom));
        }
        return items.Count == 1 ? items[0] : new SeqNode(items.ToArray());
    }

    private GrammarNode Quantified(GrammarNode atom)
    {
        while (!AtEnd)
        {
            int min, max;
            var start = _pos;
            switch (Peek)
            {
                case '*': _pos++; (min, max) = (0, -1); break;
                case '+': _pos++; (min, max) = (1, -1); break;
                case '?': _pos++; (min, max) = (0, 1); break;
                case '{':
                    if (!TryBraces(out min, out max)) return atom;
                    break;
                default: return atom;
            }
            if (!AtEnd && Peek == '?') _pos++; // lazy: the same set of full matches
            else if (!AtEnd && Peek == '+') throw Error("possessive quantifiers");
            if (max > MaxRepeat || min > MaxRepeat) { _pos = start; throw Error($"repeat counts above {MaxRepeat}"); }
            atom = new RepeatNode(atom, min, max);
        }
        return atom;
    }

    /// <summary><c>{n}</c>, <c>{n,}</c>, <c>{n,m}</c>; false (position unchanged) when the brace is a literal.</summary>
    private bool TryBraces(out int min, out int max)
    {
        min = max = 0;
        var close = _pattern.IndexOf('}', _pos);
        if (close < 0) return false;
        var body = _pattern[(_pos + 1)..close];
        var parts = body.Split(',');
        if (parts.Length > 2 || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out min)) return false;
        if (parts.Length == 1) max = min;
        else if (parts[1].Length == 0) max = -1;
        else if (!int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out max)) return false;
        if (max >= 0 && max < min) throw Error($"{{{body}}} has its maximum below its minimum");
        _pos = close + 1;
        return true;
    }

    private GrammarNode Atom()
    {
        var c = Peek;
        switch (c)
        {
            case '(':
                _pos++;
                if (!AtEnd && Peek == '?')
                {
                    var rest = _pattern[_pos..];
                    if (rest.StartsWith("?:", StringComparison.Ordinal)) _pos += 2;
                    else if (rest.StartsWith("?P<", StringComparison.Ordinal) || (rest.StartsWith("?<", StringComparison.Ordinal) && !rest.StartsWith("?<=", StringComparison.Ordinal) && !rest.StartsWith("?<!", StringComparison.Ordinal)))
                    {
                        var close = _pattern.IndexOf('>', _pos);
                        if (close < 0) throw Error("unterminated group name");
                        _pos = close + 1;
                    }
                    else if (rest.StartsWith("?=", StringComparison.Ordinal) || rest.StartsWith("?!", StringComparison.Ordinal) || rest.StartsWith("?<", StringComparison.Ordinal))
                        throw Error("lookaround assertions");
                    else throw Error("inline flags and other (?...) groups");
                }
                var inner = Alternation();
                if (AtEnd || Peek != ')') throw Error("missing ')'");
                _pos++;
                return inner;
            case '[':
                return CharSet(Class(), _jsonString);
            case '.':
                _pos++;
                return CharSet(CodePointSet.Single('\n').Negate(), _jsonString);
            case '\\':
                return CharSet(Escape(inClass: false), _jsonString);
            case '*' or '+' or '?':
                throw Error($"'{c}' has nothing to repeat");
            case '{' when TryBraces(out _, out _):
                throw Error("a repeat has nothing to repeat");
            default:
                var cp = char.ConvertToUtf32(_pattern, _pos);
                _pos += char.IsSurrogatePair(_pattern, _pos) ? 2 : 1;
                return CharSet(CodePointSet.Single(cp), _jsonString);
        }
    }

    private CodePointSet Class()
    {
        _pos++; // [
        var negate = !AtEnd && Peek == '^';
        if (negate) _pos++;
        var set = CodePointSet.Empty;
        var first = true;
        while (true)
        {
            if (AtEnd) throw Error("missing ']'");
            if (Peek == ']' && !first) { _pos++; break; }
            first = false;
            var lo = ClassAtom(out var single);
            if (single is not null && !AtEnd && Peek == '-' && _pos + 1 < _pattern.Length && _pattern[_pos + 1] != ']')
            {
                _pos++;
                var hiSet = ClassAtom(out var hi);
                if (hi is null) throw Error("a range ends in a class escape");
                if (hi < single) throw Error("a range is out of order");
                set = set.Union(CodePointSet.Of((single.Value, hi.Value)));
                _ = hiSet;
            }
            else set = set.Union(lo);
        }
        return negate ? set.Negate() : set;
    }

    private CodePointSet ClassAtom(out int? single)
    {
        if (Peek == '\\')
        {
            var set = Escape(inClass: true);
            single = set.Ranges.Count == 1 && set.Ranges[0].Lo == set.Ranges[0].Hi ? set.Ranges[0].Lo : null;
            return set;
        }
        if (Peek == '[' && _pos + 1 < _pattern.Length && _pattern[_pos + 1] == ':') throw Error("POSIX classes");
        var cp = char.ConvertToUtf32(_pattern, _pos);
        _pos += char.IsSurrogatePair(_pattern, _pos) ? 2 : 1;
        single = cp;
        return CodePointSet.Single(cp);
    }

    private CodePointSet Escape(bool inClass)
    {
        _pos++; // backslash
        if (AtEnd) throw Error("a trailing backslash");
        var c = Peek;
        _pos++;
        switch (c)
        {
            case 'd': return Digits;
            case 'D': return Digits.Negate();
            case 'w': return Word;
            case 'W': return Word.Negate();
            case 's': return Space;
            case 'S': return Space.Negate();
            case 'n': return CodePointSet.Single('\n');
            case 't': return CodePointSet.Single('\t');
            case 'r': return CodePointSet.Single('\r');
            case 'f': return CodePointSet.Single('\f');
            case 'v': return CodePointSet.Single('\v');
            case '0': return CodePointSet.Single(0);
            case 'b' when inClass: return CodePointSet.Single('\b');
            case 'x': return CodePointSet.Single(Hex(2));
            case 'u':
                if (!AtEnd && Peek == '{')
                {
                    var close = _pattern.IndexOf('}', _pos);
                    if (close < 0) throw Error("unterminated \\u{...}");
                    var digits = _pattern[(_pos + 1)..close];
                    _pos = close + 1;
                    if (!int.TryParse(digits, NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var big) || big > CodePointSet.MaxCodePoint) throw Error("a bad \\u{...} escape");
                    return CodePointSet.Single(big);
                }
                return CodePointSet.Single(Hex(4));
            case 'b' or 'B' or 'A' or 'Z' or 'z' or 'G': throw Error($"the assertion \\{c}");
            case >= '1' and <= '9': throw Error("backreferences");
            case 'p' or 'P': throw Error("Unicode property classes");
            default:
                if (char.IsAsciiLetterOrDigit(c)) throw Error($"the escape \\{c}");
                return CodePointSet.Single(c);
        }
    }

    private int Hex(int digits)
    {
        if (_pos + digits > _pattern.Length || !int.TryParse(_pattern.AsSpan(_pos, digits), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var value))
            throw Error("a bad hex escape");
        _pos += digits;
        return value;
    }
}
