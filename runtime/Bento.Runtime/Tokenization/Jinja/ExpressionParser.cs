namespace Bento.Runtime.Tokenization.Jinja;

/// <summary>
/// Recursive-descent parser for Jinja expressions with Jinja's precedence, loosest first:
/// <c>x if c else y</c>, <c>or</c>, <c>and</c>, <c>not</c>, comparisons and <c>in</c>, <c>+ -</c>,
/// <c>~</c>, <c>* / // %</c>, <c>**</c>, unary <c>- +</c>, then postfix <c>.attr</c>, <c>[key]</c>,
/// <c>(call)</c>, <c>| filter</c> and <c>is test</c>. Filters bind tighter than arithmetic, so
/// <c>'a' + x | trim</c> trims only x.
/// </summary>
internal sealed class ExpressionParser(TokenStream tokens)
{
    private static readonly HashSet<string> ComparisonOperators = ["==", "!=", "<", "<=", ">", ">="];

    /// <param name="allowConditional">False where an <c>if</c> ends the expression (a for loop's iterable).</param>
    public Expression Parse(bool allowConditional = true) => allowConditional ? ParseConditional() : ParseOr();

    /// <summary>An expression, or several separated by commas as a tuple (<c>set a, b = 1, 2</c>).</summary>
    public Expression ParseTuple(bool allowConditional = true)
    {
        var first = Parse(allowConditional);
        if (!tokens.Current.IsOperator(","))
            return first;
        var items = new List<Expression> { first };
        while (tokens.TrySkipOperator(","))
        {
            if (tokens.AtEnd || tokens.Current.IsOperator(")") || tokens.Current.IsOperator("="))
                break;
            items.Add(Parse(allowConditional));
        }
        return new ListExpression(items);
    }

    private Expression ParseConditional()
    {
        var expression = ParseOr();
        while (tokens.TrySkipName("if"))
        {
            var condition = ParseOr();
            var otherwise = tokens.TrySkipName("else") ? ParseConditional() : null;
            expression = new ConditionalExpression(condition, expression, otherwise);
        }
        return expression;
    }

    private Expression ParseOr()
    {
        var left = ParseAnd();
        while (tokens.TrySkipName("or"))
            left = new OrExpression(left, ParseAnd());
        return left;
    }

    private Expression ParseAnd()
    {
        var left = ParseNot();
        while (tokens.TrySkipName("and"))
            left = new AndExpression(left, ParseNot());
        return left;
    }

    private Expression ParseNot() =>
        tokens.TrySkipName("not") ? new NotExpression(ParseNot()) : ParseComparison();

    private Expression ParseComparison()
    {
        var first = ParseAdditive();
        var rest = new List<(string, Expression)>();
        while (true)
        {
            var token = tokens.Current;
            string op;
            if (token.Kind == ExpressionTokenKind.Operator && ComparisonOperators.Contains(token.Text))
            {
                op = token.Text;
                tokens.Next();
            }
            else if (token.IsName("in"))
            {
                op = "in";
                tokens.Next();
            }
            else if (token.IsName("not") && tokens.PeekAhead(1).IsName("in"))
            {
                op = "not in";
                tokens.Next();
                tokens.Next();
            }
            else
            {
                break;
            }
            rest.Add((op, ParseAdditive()));
        }
        return rest.Count == 0 ? first : new CompareExpression(first, rest);
    }

    private Expression ParseAdditive()
    {
        var left = ParseConcat();
        while (tokens.Current.IsOperator("+") || tokens.Current.IsOperator("-"))
        {
            var op = tokens.Next().Text;
            left = new BinaryExpression(op, left, ParseConcat());
        }
        return left;
    }

    private Expression ParseConcat()
    {
        var left = ParseMultiplicative();
        while (tokens.TrySkipOperator("~"))
            left = new BinaryExpression("~", left, ParseMultiplicative());
        return left;
    }

    private Expression ParseMultiplicative()
    {
        var left = ParsePower();
        while (tokens.Current.Kind == ExpressionTokenKind.Operator && tokens.Current.Text is "*" or "/" or "//" or "%")
        {
            var op = tokens.Next().Text;
            left = new BinaryExpression(op, left, ParsePower());
        }
        return left;
    }

    private Expression ParsePower()
    {
        var left = ParseUnary(withFilters: true);
        while (tokens.TrySkipOperator("**"))
            left = new BinaryExpression("**", left, ParseUnary(withFilters: true));
        return left;
    }

    /// <summary>As in Jinja, a sign applies to the bare operand and filters after it apply to the
    /// signed value: <c>-x|abs</c> is abs(-x).</summary>
    private Expression ParseUnary(bool withFilters)
    {
        Expression node;
        if (tokens.TrySkipOperator("-"))
            node = new NegateExpression(ParseUnary(withFilters: false));
        else if (tokens.TrySkipOperator("+"))
            node = ParseUnary(withFilters: false);
        else
            node = ParsePrimary();
        node = ParsePostfix(node);
        return withFilters ? ParseFiltersAndTests(node) : node;
    }

    private Expression ParsePrimary()
    {
        var token = tokens.Current;
        switch (token.Kind)
        {
            case ExpressionTokenKind.Name:
                tokens.Next();
                return token.Text switch
                {
                    "true" or "True" => new LiteralExpression(true),
                    "false" or "False" => new LiteralExpression(false),
                    "none" or "None" => new LiteralExpression(null),
                    _ => new NameExpression(token.Text),
                };
            case ExpressionTokenKind.String:
                // Adjacent string literals concatenate, as in Python.
                var text = (string)tokens.Next().Value!;
                while (tokens.Current.Kind == ExpressionTokenKind.String)
                    text += (string)tokens.Next().Value!;
                return new LiteralExpression(text);
            case ExpressionTokenKind.Integer or ExpressionTokenKind.Float:
                tokens.Next();
                return new LiteralExpression(token.Value);
            case ExpressionTokenKind.Operator when token.Text == "(":
                tokens.Next();
                if (tokens.TrySkipOperator(")"))
                    return new ListExpression([]);
                var inner = ParseTuple();
                tokens.ExpectOperator(")");
                return inner;
            case ExpressionTokenKind.Operator when token.Text == "[":
                tokens.Next();
                var items = new List<Expression>();
                while (!tokens.TrySkipOperator("]"))
                {
                    items.Add(Parse());
                    if (!tokens.TrySkipOperator(","))
                    {
                        tokens.ExpectOperator("]");
                        break;
                    }
                }
                return new ListExpression(items);
            case ExpressionTokenKind.Operator when token.Text == "{":
                tokens.Next();
                var entries = new List<(Expression, Expression)>();
                while (!tokens.TrySkipOperator("}"))
                {
                    var key = Parse();
                    tokens.ExpectOperator(":");
                    entries.Add((key, Parse()));
                    if (!tokens.TrySkipOperator(","))
                    {
                        tokens.ExpectOperator("}");
                        break;
                    }
                }
                return new DictExpression(entries);
            default:
                throw tokens.Error($"expected an expression but found {token.Describe()}");
        }
    }

    private Expression ParsePostfix(Expression node)
    {
        while (true)
        {
            if (tokens.TrySkipOperator("."))
            {
                var token = tokens.Next();
                node = token.Kind switch
                {
                    ExpressionTokenKind.Name => new AttributeExpression(node, token.Text),
                    ExpressionTokenKind.Integer => new ItemExpression(node, new LiteralExpression(token.Value)),
                    _ => throw new TemplateException($"expected an attribute name after '.' but found {token.Describe()}", token.Line, tokens.TemplateName),
                };
            }
            else if (tokens.TrySkipOperator("["))
            {
                node = ParseSubscript(node);
            }
            else if (tokens.Current.IsOperator("("))
            {
                node = new CallExpression(node, ParseArguments());
            }
            else
            {
                return node;
            }
        }
    }

    private Expression ParseSubscript(Expression target)
    {
        Expression? start = tokens.Current.IsOperator(":") ? null : Parse();
        if (!tokens.TrySkipOperator(":"))
        {
            tokens.ExpectOperator("]");
            return new ItemExpression(target, start!);
        }
        Expression? stop = tokens.Current.IsOperator(":") || tokens.Current.IsOperator("]") ? null : Parse();
        Expression? step = null;
        if (tokens.TrySkipOperator(":") && !tokens.Current.IsOperator("]"))
            step = Parse();
        tokens.ExpectOperator("]");
        return new SliceExpression(target, start, stop, step);
    }

    private Expression ParseFiltersAndTests(Expression node)
    {
        while (true)
        {
            if (tokens.TrySkipOperator("|"))
            {
                var nameToken = tokens.Current;
                var name = tokens.ExpectName();
                if (!Filters.TryGet(name, out var filter))
                    throw new TemplateException($"unknown filter '{name}'", nameToken.Line, tokens.TemplateName);
                var arguments = tokens.Current.IsOperator("(") ? ParseArguments() : ArgumentList.None;
                node = new FilterExpression(node, name, filter, arguments);
            }
            else if (tokens.TrySkipName("is"))
            {
                var negated = tokens.TrySkipName("not");
                var nameToken = tokens.Current;
                var name = nameToken.Kind == ExpressionTokenKind.Operator && nameToken.Text is "==" or "!=" or "<" or "<=" or ">" or ">="
                    ? tokens.Next().Text
                    : tokens.ExpectName();
                if (!TestFunctions.TryGet(name, out var test))
                    throw new TemplateException($"unknown test '{name}'", nameToken.Line, tokens.TemplateName);
                ArgumentList arguments;
                if (tokens.Current.IsOperator("("))
                    arguments = ParseArguments();
                else if (StartsBareTestArgument(tokens.Current))
                    arguments = new ArgumentList([ParsePostfix(ParsePrimary())], []);
                else
                    arguments = ArgumentList.None;
                node = new TestExpression(node, test, arguments, negated);
            }
            else if (tokens.Current.IsOperator("("))
            {
                node = new CallExpression(node, ParseArguments());
            }
            else
            {
                return node;
            }
        }
    }

    /// <summary>Jinja lets a test take one argument without parentheses (<c>is divisibleby 3</c>,
    /// <c>is sameas false</c>), but not when the next word continues the expression.</summary>
    private static bool StartsBareTestArgument(ExpressionToken token) =>
        token.Kind switch
        {
            ExpressionTokenKind.Name => token.Text is not ("else" or "or" or "and" or "if" or "in" or "not" or "is"),
            ExpressionTokenKind.String or ExpressionTokenKind.Integer or ExpressionTokenKind.Float => true,
            ExpressionTokenKind.Operator => token.Text is "[" or "{",
            _ => false,
        };

    /// <summary><c>(a, b, name=c)</c>: positional arguments, then keyword arguments.</summary>
    private ArgumentList ParseArguments()
    {
        tokens.ExpectOperator("(");
        var positional = new List<Expression>();
        var keyword = new List<(string, Expression)>();
        while (!tokens.TrySkipOperator(")"))
        {
            if (tokens.Current.Kind == ExpressionTokenKind.Name && tokens.PeekAhead(1).IsOperator("="))
            {
                var name = tokens.Next().Text;
                tokens.Next();
                keyword.Add((name, Parse()));
            }
            else
            {
                if (keyword.Count > 0)
                    throw tokens.Error("positional argument follows keyword argument");
                positional.Add(Parse());
            }
            if (!tokens.TrySkipOperator(","))
            {
                tokens.ExpectOperator(")");
                break;
            }
        }
        return new ArgumentList(positional, keyword);
    }
}
