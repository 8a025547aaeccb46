namespace Bento.Runtime.Tokenization.Jinja;

/// <summary>
/// Builds the statement tree from lexed segments: text, <c>{{ }}</c> output, and the block tags chat
/// templates use (if/elif/else, for/else with break and continue, set and set blocks, macro, and
/// transformers' generation markers). Tags we do not implement are rejected at compile time with their
/// line, rather than misrendered.
/// </summary>
internal sealed class TemplateParser
{
    private static readonly HashSet<string> UnsupportedTags =
        ["call", "filter", "include", "import", "from", "extends", "block", "with", "autoescape", "do", "trans"];

    private readonly List<TemplateSegment> _segments;
    private readonly string _templateName;
    private readonly Stack<(string Keyword, int Line)> _openBlocks = new();
    private int _position;
    private int _loopDepth;

    private TemplateParser(List<TemplateSegment> segments, string templateName)
    {
        _segments = segments;
        _templateName = templateName;
    }

    public static List<TemplateNode> Parse(string source, string templateName)
    {
        var parser = new TemplateParser(TemplateLexer.Tokenize(source, templateName), templateName);
        return parser.ParseUntil().Nodes;
    }

    /// <summary>A tag that ended a body: its keyword, the rest of its tokens, and its line.</summary>
    private sealed record BodyEnd(string Keyword, TokenStream Tokens, int Line);

    /// <summary>Parses nodes until a statement whose keyword is one of <paramref name="endKeywords"/>
    /// (consumed and returned), or to the end of the template when none are given.</summary>
    private (List<TemplateNode> Nodes, BodyEnd? End) ParseUntil(params string[] endKeywords)
    {
        var nodes = new List<TemplateNode>();
        while (_position < _segments.Count)
        {
            var segment = _segments[_position++];
            switch (segment.Kind)
            {
                case SegmentKind.Text:
                    nodes.Add(new TextNode(segment.Line, segment.Content));
                    break;
                case SegmentKind.Output:
                {
                    var tokens = Tokens(segment);
                    if (tokens.AtEnd)
                        throw tokens.Error("empty expression");
                    var expression = new ExpressionParser(tokens).ParseTuple();
                    tokens.ExpectEnd();
                    nodes.Add(new OutputNode(segment.Line, expression));
                    break;
                }
                case SegmentKind.Statement:
                {
                    var tokens = Tokens(segment);
                    if (tokens.AtEnd)
                        throw tokens.Error("empty tag");
                    var keyword = tokens.ExpectName();
                    if (endKeywords.Contains(keyword))
                        return (nodes, new BodyEnd(keyword, tokens, segment.Line));
                    nodes.AddRange(ParseStatement(keyword, tokens, segment.Line));
                    break;
                }
            }
        }
        if (endKeywords.Length > 0)
        {
            var (opener, line) = _openBlocks.Peek();
            var expected = string.Join(" or ", endKeywords.Select(keyword => $"'{keyword}'"));
            throw new TemplateException($"'{opener}' is never closed (expected {expected})", line, _templateName);
        }
        return (nodes, null);
    }

    private IEnumerable<TemplateNode> ParseStatement(string keyword, TokenStream tokens, int line)
    {
        switch (keyword)
        {
            case "if":
                return [ParseIf(tokens, line)];
            case "for":
                return [ParseFor(tokens, line)];
            case "set":
                return [ParseSet(tokens, line)];
            case "macro":
                return [ParseMacro(tokens, line)];
            case "break" or "continue":
                tokens.ExpectEnd();
                if (_loopDepth == 0)
                    throw new TemplateException($"'{keyword}' outside of a for loop", line, _templateName);
                return [new LoopControlNode(line, keyword == "break" ? RenderFlow.Break : RenderFlow.Continue)];
            case "generation":
                // transformers marks the assistant's text for training masks; rendering ignores the marker.
                tokens.ExpectEnd();
                return ParseBody("generation", line, "endgeneration").Nodes;
            default:
                if (UnsupportedTags.Contains(keyword))
                    throw new TemplateException($"the '{keyword}' tag is not supported", line, _templateName);
                var inside = _openBlocks.Count > 0 ? $" inside '{_openBlocks.Peek().Keyword}' opened at line {_openBlocks.Peek().Line}" : "";
                var kind = keyword.StartsWith("end", StringComparison.Ordinal) || keyword is "elif" or "else" ? "unexpected" : "unknown";
                throw new TemplateException($"{kind} tag '{keyword}'{inside}", line, _templateName);
        }
    }

    /// <summary>Parses the body of a block opened by <paramref name="opener"/>, up to one of
    /// <paramref name="endKeywords"/>.</summary>
    private (List<TemplateNode> Nodes, BodyEnd End) ParseBody(string opener, int line, params string[] endKeywords)
    {
        _openBlocks.Push((opener, line));
        try
        {
            var (nodes, end) = ParseUntil(endKeywords);
            if (end!.Keyword.StartsWith("end", StringComparison.Ordinal))
                end.Tokens.ExpectEnd();
            return (nodes, end);
        }
        finally
        {
            _openBlocks.Pop();
        }
    }

    private TemplateNode ParseIf(TokenStream tokens, int line)
    {
        var branches = new List<(Expression, IReadOnlyList<TemplateNode>)>();
        var condition = ParseCondition(tokens);
        while (true)
        {
            var (body, end) = ParseBody("if", line, "elif", "else", "endif");
            branches.Add((condition, body));
            switch (end.Keyword)
            {
                case "elif":
                    condition = ParseCondition(end.Tokens);
                    continue;
                case "else":
                    end.Tokens.ExpectEnd();
                    var (otherwise, _) = ParseBody("if", line, "endif");
                    return new IfNode(line, branches, otherwise);
                default:
                    return new IfNode(line, branches, null);
            }
        }
    }

    private static Expression ParseCondition(TokenStream tokens)
    {
        var condition = new ExpressionParser(tokens).Parse();
        tokens.ExpectEnd();
        return condition;
    }

    private TemplateNode ParseFor(TokenStream tokens, int line)
    {
        var targets = ParseTargets(tokens);
        tokens.ExpectKeyword("in");
        var parser = new ExpressionParser(tokens);
        var iterable = parser.ParseTuple(allowConditional: false);
        var filter = tokens.TrySkipName("if") ? parser.Parse(allowConditional: false) : null;
        if (tokens.Current.IsName("recursive"))
            throw tokens.Error("recursive for loops are not supported");
        tokens.ExpectEnd();

        _loopDepth++;
        (List<TemplateNode> Nodes, BodyEnd End) body;
        try
        {
            body = ParseBody("for", line, "else", "endfor");
        }
        finally
        {
            _loopDepth--;
        }
        List<TemplateNode>? otherwise = null;
        if (body.End.Keyword == "else")
        {
            body.End.Tokens.ExpectEnd();
            otherwise = ParseBody("for", line, "endfor").Nodes;
        }
        return new ForNode(line, targets, iterable, filter, body.Nodes, otherwise);
    }

    /// <summary>Loop targets: <c>x</c>, <c>k, v</c> or <c>(k, v)</c>.</summary>
    private static List<string> ParseTargets(TokenStream tokens)
    {
        var parenthesised = tokens.TrySkipOperator("(");
        var names = new List<string> { tokens.ExpectName() };
        while (tokens.TrySkipOperator(","))
        {
            if (parenthesised && tokens.Current.IsOperator(")"))
                break;
            names.Add(tokens.ExpectName());
        }
        if (parenthesised)
            tokens.ExpectOperator(")");
        return names;
    }

    private TemplateNode ParseSet(TokenStream tokens, int line)
    {
        var first = tokens.ExpectName();
        string? attribute = null;
        var names = new List<string> { first };
        if (tokens.TrySkipOperator("."))
        {
            attribute = tokens.ExpectName();
        }
        else
        {
            while (tokens.TrySkipOperator(","))
                names.Add(tokens.ExpectName());
        }

        if (tokens.TrySkipOperator("="))
        {
            var value = new ExpressionParser(tokens).ParseTuple();
            tokens.ExpectEnd();
            return new SetNode(line, names, attribute, value);
        }
        // Only a single plain name can capture a block; anything else must be an assignment.
        if (attribute is not null || names.Count > 1 || !tokens.AtEnd)
            tokens.ExpectOperator("=");
        tokens.ExpectEnd();
        return new SetBlockNode(line, first, ParseBody("set", line, "endset").Nodes);
    }

    private TemplateNode ParseMacro(TokenStream tokens, int line)
    {
        var name = tokens.ExpectName();
        tokens.ExpectOperator("(");
        var parameters = new List<(string, Expression?)>();
        var parser = new ExpressionParser(tokens);
        while (!tokens.TrySkipOperator(")"))
        {
            var parameter = tokens.ExpectName();
            parameters.Add((parameter, tokens.TrySkipOperator("=") ? parser.Parse() : null));
            if (!tokens.TrySkipOperator(","))
            {
                tokens.ExpectOperator(")");
                break;
            }
        }
        tokens.ExpectEnd();

        // A loop around the definition does not make break valid inside the macro.
        var loopDepth = _loopDepth;
        _loopDepth = 0;
        try
        {
            _openBlocks.Push(("macro", line));
            var (body, _) = ParseUntil("endmacro");
            _openBlocks.Pop();
            return new MacroNode(line, name, parameters, body);
        }
        finally
        {
            _loopDepth = loopDepth;
        }
    }

    private TokenStream Tokens(TemplateSegment segment) =>
        new(ExpressionTokenizer.Tokenize(segment.Content, segment.Line, _templateName), _templateName);
}
