namespace Bento.Runtime.Tokenization.Jinja;

/// <summary>A parsed expression; evaluating it yields a template value (see <see cref="PythonValues"/>).</summary>
internal abstract class Expression
{
    public abstract object? Evaluate(RenderContext context);
}

internal sealed class LiteralExpression(object? value) : Expression
{
    public object? Value { get; } = value;

    public override object? Evaluate(RenderContext context) => Value;
}

internal sealed class NameExpression(string name) : Expression
{
    public string Name { get; } = name;

    public override object? Evaluate(RenderContext context) => context.Lookup(Name);
}

/// <summary>A list or tuple literal (tuples are lists here; nothing in a template can tell them apart).</summary>
internal sealed class ListExpression(IReadOnlyList<Expression> items) : Expression
{
    public override object? Evaluate(RenderContext context) => items.Select(item => item.Evaluate(context)).ToList();
}

internal sealed class DictExpression(IReadOnlyList<(Expression Key, Expression Value)> entries) : Expression
{
    public override object? Evaluate(RenderContext context)
    {
        var dict = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var (key, value) in entries)
        {
            if (key.Evaluate(context) is not string name)
                throw new TemplateException("dictionary keys must be strings");
            dict[name] = value.Evaluate(context);
        }
        return dict;
    }
}

internal sealed class AttributeExpression(Expression target, string name) : Expression
{
    public override object? Evaluate(RenderContext context) => ValueAccess.GetAttribute(target.Evaluate(context), name);
}

internal sealed class ItemExpression(Expression target, Expression key) : Expression
{
    public override object? Evaluate(RenderContext context) => ValueAccess.GetItem(target.Evaluate(context), key.Evaluate(context));
}

internal sealed class SliceExpression(Expression target, Expression? start, Expression? stop, Expression? step) : Expression
{
    public override object? Evaluate(RenderContext context) =>
        ValueAccess.Slice(target.Evaluate(context), start?.Evaluate(context), stop?.Evaluate(context), step?.Evaluate(context));
}

/// <summary>Arguments as written at a call site, evaluated on demand.</summary>
internal sealed class ArgumentList(IReadOnlyList<Expression> positional, IReadOnlyList<(string Name, Expression Value)> keyword)
{
    public static readonly ArgumentList None = new([], []);

    public CallArguments Evaluate(RenderContext context)
    {
        if (positional.Count == 0 && keyword.Count == 0)
            return CallArguments.None;
        var named = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var (name, value) in keyword)
            named[name] = value.Evaluate(context);
        return new CallArguments(positional.Select(argument => argument.Evaluate(context)).ToList(), named);
    }
}

internal sealed class CallExpression(Expression callee, ArgumentList arguments) : Expression
{
    public override object? Evaluate(RenderContext context)
    {
        var function = callee.Evaluate(context);
        return function switch
        {
            JinjaCallable callable => callable.Invoke(arguments.Evaluate(context), context),
            Undefined undefined => throw undefined.Error(),
            _ => throw new TemplateException($"'{PythonValues.TypeName(function)}' object is not callable"),
        };
    }
}

internal sealed class FilterExpression(Expression target, string name, FilterFunction filter, ArgumentList arguments) : Expression
{
    public string Name { get; } = name;

    public override object? Evaluate(RenderContext context) => filter(target.Evaluate(context), arguments.Evaluate(context), context);
}

internal sealed class TestExpression(Expression target, TestFunction test, ArgumentList arguments, bool negated) : Expression
{
    public override object? Evaluate(RenderContext context) => test(target.Evaluate(context), arguments.Evaluate(context), context) != negated;
}

internal sealed class NegateExpression(Expression operand) : Expression
{
    public override object? Evaluate(RenderContext context) => Operators.Negate(operand.Evaluate(context));
}

internal sealed class NotExpression(Expression operand) : Expression
{
    public override object? Evaluate(RenderContext context) => !PythonValues.IsTruthy(operand.Evaluate(context));
}

internal sealed class BinaryExpression(string op, Expression left, Expression right) : Expression
{
    public override object? Evaluate(RenderContext context) => Operators.Binary(op, left.Evaluate(context), right.Evaluate(context));
}

/// <summary>Python's <c>and</c>: the first falsy operand, else the last (not necessarily a bool).</summary>
internal sealed class AndExpression(Expression left, Expression right) : Expression
{
    public override object? Evaluate(RenderContext context)
    {
        var first = left.Evaluate(context);
        return PythonValues.IsTruthy(first) ? right.Evaluate(context) : first;
    }
}

/// <summary>Python's <c>or</c>: the first truthy operand, else the last, so <c>x or 'fallback'</c> works.</summary>
internal sealed class OrExpression(Expression left, Expression right) : Expression
{
    public override object? Evaluate(RenderContext context)
    {
        var first = left.Evaluate(context);
        return PythonValues.IsTruthy(first) ? first : right.Evaluate(context);
    }
}

/// <summary>Comparisons, chained as in Python (<c>a &lt; b &lt; c</c> means both hold).</summary>
internal sealed class CompareExpression(Expression first, IReadOnlyList<(string Op, Expression Operand)> rest) : Expression
{
    public override object? Evaluate(RenderContext context)
    {
        var left = first.Evaluate(context);
        foreach (var (op, operand) in rest)
        {
            var right = operand.Evaluate(context);
            var holds = op switch
            {
                "==" => PythonValues.AreEqual(left, right),
                "!=" => !PythonValues.AreEqual(left, right),
                "<" => PythonValues.Compare(left, right, op) < 0,
                "<=" => PythonValues.Compare(left, right, op) <= 0,
                ">" => PythonValues.Compare(left, right, op) > 0,
                ">=" => PythonValues.Compare(left, right, op) >= 0,
                "in" => Operators.Contains(right, left),
                "not in" => !Operators.Contains(right, left),
                _ => throw new TemplateException($"unknown comparison '{op}'"),
            };
            if (!holds)
                return false;
            left = right;
        }
        return true;
    }
}

/// <summary><c>a if condition else b</c>; without an else branch a false condition gives undefined.</summary>
internal sealed class ConditionalExpression(Expression condition, Expression whenTrue, Expression? whenFalse) : Expression
{
    public override object? Evaluate(RenderContext context) =>
        PythonValues.IsTruthy(condition.Evaluate(context))
            ? whenTrue.Evaluate(context)
            : whenFalse is null ? new Undefined("the condition of an if-expression without else was false") : whenFalse.Evaluate(context);
}
