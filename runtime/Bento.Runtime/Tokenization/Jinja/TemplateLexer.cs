namespace Bento.Runtime.Tokenization.Jinja;

/// <summary>
/// Cuts template source into text and tags, applying Jinja's whitespace rules the way transformers
/// configures them: <c>-</c> markers strip all whitespace on that side, <c>trim_blocks</c> removes the
/// newline after a block or comment tag, <c>lstrip_blocks</c> removes the indentation before one (a
/// <c>+</c> marker disables either), and one trailing newline of the template is dropped
/// (keep_trailing_newline is off). Getting these exactly right is what makes rendered prompts match
/// Python byte for byte.
/// </summary>
internal sealed class TemplateLexer
{
    private readonly string _source;
    private readonly string _templateName;
    private readonly int[] _lineStarts;
    private readonly List<TemplateSegment> _segments = [];

    private TemplateLexer(string source, string templateName)
    {
        // Jinja normalises newlines before lexing, and strips one final newline.
        source = source.Replace("\r\n", "\n", StringComparison.Ordinal).Replace('\r', '\n');
        if (source.EndsWith('\n'))
            source = source[..^1];
        _source = source;
        _templateName = templateName;
        var starts = new List<int> { 0 };
        for (var i = 0; i < source.Length; i++)
        {
            if (source[i] == '\n')
                starts.Add(i + 1);
        }
        _lineStarts = starts.ToArray();
    }

    public static List<TemplateSegment> Tokenize(string source, string templateName)
    {
        var lexer = new TemplateLexer(source, templateName);
        lexer.Run();
        return lexer._segments;
    }

    private enum TagKind { Output, Statement, Comment }

    private void Run()
    {
        var position = 0;
        var atLineStart = true;
        while (position < _source.Length)
        {
            var open = FindTagOpen(position);
            if (open < 0)
            {
                AddText(_source[position..], position);
                break;
            }

            var kind = _source[open + 1] switch { '{' => TagKind.Output, '%' => TagKind.Statement, _ => TagKind.Comment };
            var contentStart = open + 2;
            var leftMarker = contentStart < _source.Length && _source[contentStart] is '-' or '+' ? _source[contentStart] : '\0';
            if (leftMarker != '\0')
                contentStart++;

            var text = _source[position..open];
            if (leftMarker == '-')
                text = text.TrimEnd();
            else if (kind != TagKind.Output && leftMarker != '+')
                text = StripIndentation(text, atLineStart);
            AddText(text, position);

            var close = kind == TagKind.Comment
                ? _source.IndexOf("#}", contentStart, StringComparison.Ordinal)
                : FindTagClose(contentStart, kind == TagKind.Output ? '}' : '%');
            if (close < 0)
                throw new TemplateException($"the tag opened here is never closed with '{(kind == TagKind.Output ? "}}" : kind == TagKind.Statement ? "%}" : "#}")}'", LineOf(open), _templateName);

            // "+" only means something before "%}" and "#}"; before "}}" it would be part of the expression.
            var rightMarker = close > contentStart && (_source[close - 1] == '-' || (_source[close - 1] == '+' && kind != TagKind.Output))
                ? _source[close - 1]
                : '\0';
            var content = _source[contentStart..(rightMarker != '\0' ? close - 1 : close)];
            position = close + 2;

            if (kind == TagKind.Statement && content.Trim() == "raw")
            {
                if (rightMarker == '-')
                    position = SkipAfterTag(position, rightMarker, trimNewline: false);
                position = ReadRawBlock(position, LineOf(open));
            }
            else
            {
                if (kind != TagKind.Comment)
                    _segments.Add(new TemplateSegment(kind == TagKind.Output ? SegmentKind.Output : SegmentKind.Statement, content, LineOf(contentStart)));
                position = SkipAfterTag(position, rightMarker, trimNewline: kind != TagKind.Output);
            }
            atLineStart = position > 0 && _source[position - 1] == '\n';
        }
    }

    /// <summary>The next "{{", "{%" or "{#" at or after <paramref name="from"/>, or -1.</summary>
    private int FindTagOpen(int from)
    {
        for (var i = _source.IndexOf('{', from); i >= 0 && i + 1 < _source.Length; i = _source.IndexOf('{', i + 1))
        {
            if (_source[i + 1] is '{' or '%' or '#')
                return i;
        }
        return -1;
    }

    /// <summary>Where "}}" or "%}" closes the tag, skipping string literals and nested brackets so
    /// <c>{{ {'a': 1} }}</c> and <c>{{ '%}' }}</c> work.</summary>
    private int FindTagClose(int from, char closer)
    {
        var depth = 0;
        for (var i = from; i < _source.Length; i++)
        {
            var c = _source[i];
            if (c is '\'' or '"')
            {
                i++;
                while (i < _source.Length && _source[i] != c)
                {
                    if (_source[i] == '\\')
                        i++;
                    i++;
                }
                continue;
            }
            if (depth == 0 && c == closer && i + 1 < _source.Length && _source[i + 1] == '}')
                return i;
            if (c is '(' or '[' or '{')
                depth++;
            else if (c is ')' or ']' or '}' && depth > 0)
                depth--;
        }
        return -1;
    }

    /// <summary>lstrip_blocks: drop spaces and tabs between the start of the line and a block tag, but only
    /// when nothing else precedes the tag on that line.</summary>
    private static string StripIndentation(string text, bool textStartsLine)
    {
        var lineStart = text.LastIndexOf('\n') + 1;
        if (lineStart == 0 && !textStartsLine)
            return text;
        for (var i = lineStart; i < text.Length; i++)
        {
            if (!char.IsWhiteSpace(text[i]))
                return text;
        }
        return text[..lineStart];
    }

    /// <summary>After a tag: "-" eats all following whitespace; otherwise trim_blocks eats one newline
    /// after block and comment tags unless "+" says not to.</summary>
    private int SkipAfterTag(int position, char rightMarker, bool trimNewline)
    {
        if (rightMarker == '-')
        {
            while (position < _source.Length && char.IsWhiteSpace(_source[position]))
                position++;
        }
        else if (trimNewline && rightMarker != '+' && position < _source.Length && _source[position] == '\n')
        {
            position++;
        }
        return position;
    }

    /// <summary>Copies everything up to <c>{% endraw %}</c> as text, untouched.</summary>
    private int ReadRawBlock(int position, int openLine)
    {
        for (var open = FindTagOpen(position); open >= 0; open = FindTagOpen(open + 2))
        {
            if (_source[open + 1] != '%')
                continue;
            var inner = open + 2;
            var leftMarker = inner < _source.Length && _source[inner] is '-' or '+' ? _source[inner] : '\0';
            if (leftMarker != '\0')
                inner++;
            var close = _source.IndexOf("%}", inner, StringComparison.Ordinal);
            if (close < 0)
                break;
            var rightMarker = _source[close - 1] is '-' or '+' ? _source[close - 1] : '\0';
            var name = _source[inner..(rightMarker != '\0' ? close - 1 : close)].Trim();
            if (name != "endraw")
                continue;
            var text = _source[position..open];
            AddText(leftMarker == '-' ? text.TrimEnd() : text, position);
            return SkipAfterTag(close + 2, rightMarker, trimNewline: true);
        }
        throw new TemplateException("'raw' is never closed with 'endraw'", openLine, _templateName);
    }

    private void AddText(string text, int position)
    {
        if (text.Length > 0)
            _segments.Add(new TemplateSegment(SegmentKind.Text, text, LineOf(position)));
    }

    private int LineOf(int position)
    {
        var index = Array.BinarySearch(_lineStarts, position);
        return (index >= 0 ? index : ~index - 1) + 1;
    }
}
