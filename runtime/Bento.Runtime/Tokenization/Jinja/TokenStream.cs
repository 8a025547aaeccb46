namespace Bento.Runtime.Tokenization.Jinja;

/// <summary>Cursor over one tag's tokens, with the error reporting the parsers share.</summary>
internal sealed class TokenStream(IReadOnlyList<ExpressionToken> tokens, string templateName)
{
    private int _position;

    public string TemplateName { get; } = templateName;

    public ExpressionToken Current => tokens[_position];

    public ExpressionToken PeekAhead(int offset) => tokens[Math.Min(_position + offset, tokens.Count - 1)];

    public bool AtEnd => Current.Kind == ExpressionTokenKind.End;

    public ExpressionToken Next()
    {
        var token = Current;
        if (!AtEnd)
            _position++;
        return token;
    }

    public bool TrySkipOperator(string text)
    {
        if (!Current.IsOperator(text))
            return false;
        Next();
        return true;
    }

    public bool TrySkipName(string text)
    {
        if (!Current.IsName(text))
            return false;
        Next();
        return true;
    }

    public void ExpectOperator(string text)
    {
        if (!TrySkipOperator(text))
            throw Error($"expected '{text}' but found {Current.Describe()}");
    }

    public void ExpectKeyword(string text)
    {
        if (!TrySkipName(text))
            throw Error($"expected '{text}' but found {Current.Describe()}");
    }

    public string ExpectName()
    {
        if (Current.Kind != ExpressionTokenKind.Name)
            throw Error($"expected a name but found {Current.Describe()}");
        return Next().Text;
    }

    public void ExpectEnd()
    {
        if (!AtEnd)
            throw Error($"unexpected {Current.Describe()}");
    }

    public TemplateException Error(string detail) => new(detail, Current.Line, TemplateName);
}
