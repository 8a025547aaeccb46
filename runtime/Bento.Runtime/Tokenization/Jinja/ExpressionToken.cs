namespace Bento.Runtime.Tokenization.Jinja;

internal enum ExpressionTokenKind { Name, String, Integer, Float, Operator, End }

/// <summary>One token of a tag's contents; <paramref name="Value"/> holds the decoded string or number.</summary>
internal sealed record ExpressionToken(ExpressionTokenKind Kind, string Text, object? Value, int Line)
{
    public bool IsOperator(string text) => Kind == ExpressionTokenKind.Operator && Text == text;

    public bool IsName(string text) => Kind == ExpressionTokenKind.Name && Text == text;

    public string Describe() => Kind switch
    {
        ExpressionTokenKind.End => "end of tag",
        ExpressionTokenKind.String => "string literal",
        _ => $"'{Text}'",
    };
}
