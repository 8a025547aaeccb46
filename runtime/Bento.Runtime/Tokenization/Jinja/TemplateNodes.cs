using System.Text;

namespace Bento.Runtime.Tokenization.Jinja;

/// <summary>How a block finished: normally, or through <c>{% break %}</c> / <c>{% continue %}</c>,
/// which the enclosing for loop acts on.</summary>
internal enum RenderFlow { Normal, Break, Continue }

/// <summary>A statement of a parsed template: text, an output tag, or a block tag with its body.</summary>
internal abstract class TemplateNode(int line)
{
    /// <summary>1-based source line, reported with errors raised while rendering this node.</summary>
    public int Line { get; } = line;

    public abstract RenderFlow Render(RenderContext context);

    /// <summary>Renders nodes in order, stopping at a break or continue, and labels any error with the
    /// line of the innermost node it came from.</summary>
    public static RenderFlow RenderAll(IReadOnlyList<TemplateNode> nodes, RenderContext context)
    {
        foreach (var node in nodes)
        {
            RenderFlow flow;
            try
            {
                flow = node.Render(context);
            }
            catch (TemplateException e) when (e.Line is null)
            {
                throw e.AtLine(node.Line, context.TemplateName);
            }
            catch (Exception e) when (e is not TemplateException)
            {
                throw new TemplateException(e.Message, node.Line, context.TemplateName, inner: e);
            }
            if (flow != RenderFlow.Normal)
                return flow;
        }
        return RenderFlow.Normal;
    }
}

internal sealed class TextNode(int line, string text) : TemplateNode(line)
{
    public override RenderFlow Render(RenderContext context)
    {
        context.Output.Append(text);
        return RenderFlow.Normal;
    }
}

/// <summary><c>{{ expression }}</c>: prints the value as Python's str() would.</summary>
internal sealed class OutputNode(int line, Expression expression) : TemplateNode(line)
{
    public override RenderFlow Render(RenderContext context)
    {
        context.Output.Append(PythonValues.ToStr(expression.Evaluate(context)));
        return RenderFlow.Normal;
    }
}

/// <summary><c>{% if %}...{% elif %}...{% else %}...{% endif %}</c>. Branches share the enclosing
/// scope: a <c>set</c> inside an if is visible after it.</summary>
internal sealed class IfNode(int line, IReadOnlyList<(Expression Condition, IReadOnlyList<TemplateNode> Body)> branches, IReadOnlyList<TemplateNode>? otherwise)
    : TemplateNode(line)
{
    public override RenderFlow Render(RenderContext context)
    {
        foreach (var (condition, body) in branches)
        {
            if (PythonValues.IsTruthy(condition.Evaluate(context)))
                return RenderAll(body, context);
        }
        return otherwise is null ? RenderFlow.Normal : RenderAll(otherwise, context);
    }
}

/// <summary><c>{% for a, b in items if condition %}...{% else %}...{% endfor %}</c>: each iteration gets
/// its own scope holding the targets and <c>loop</c>; the else body runs when nothing was iterated.</summary>
internal sealed class ForNode(int line, IReadOnlyList<string> targets, Expression iterable, Expression? filter,
    IReadOnlyList<TemplateNode> body, IReadOnlyList<TemplateNode>? otherwise) : TemplateNode(line)
{
    public override RenderFlow Render(RenderContext context)
    {
        var items = PythonValues.Iterate(iterable.Evaluate(context)).ToList();
        if (filter is not null)
            items = items.Where(item => PythonValues.IsTruthy(WithTargets(context, item, () => filter.Evaluate(context)))).ToList();

        if (items.Count == 0)
            return otherwise is null ? RenderFlow.Normal : RenderAll(otherwise, context);

        for (var i = 0; i < items.Count; i++)
        {
            var index = i;
            var flow = WithTargets(context, items[i], () =>
            {
                context.Scope.Set("loop", new LoopState(items, index));
                return RenderAll(body, context);
            });
            if (flow == RenderFlow.Break)
                break;
        }
        return RenderFlow.Normal;
    }

    private T WithTargets<T>(RenderContext context, object? item, Func<T> action)
    {
        var outer = context.Scope;
        context.Scope = new VariableScope(outer);
        try
        {
            Assignment.Unpack(context.Scope, targets, item);
            return action();
        }
        finally
        {
            context.Scope = outer;
        }
    }
}

/// <summary><c>{% set x = value %}</c>, <c>{% set a, b = pair %}</c> or <c>{% set ns.attr = value %}</c>.</summary>
internal sealed class SetNode(int line, IReadOnlyList<string> names, string? attribute, Expression value) : TemplateNode(line)
{
    public override RenderFlow Render(RenderContext context)
    {
        var result = value.Evaluate(context);
        if (attribute is null)
        {
            Assignment.Unpack(context.Scope, names, result);
            return RenderFlow.Normal;
        }
        if (context.Lookup(names[0]) is not JinjaNamespace ns)
            throw new TemplateException($"cannot assign attribute '{attribute}' on '{names[0]}': only namespace() objects take attribute assignments");
        ns.Attributes[attribute] = result;
        return RenderFlow.Normal;
    }
}

/// <summary><c>{% set x %}...{% endset %}</c>: captures rendered text into a variable.</summary>
internal sealed class SetBlockNode(int line, string name, IReadOnlyList<TemplateNode> body) : TemplateNode(line)
{
    public override RenderFlow Render(RenderContext context)
    {
        var outer = context.Output;
        context.Output = new StringBuilder();
        try
        {
            RenderAll(body, context);
            context.Scope.Set(name, context.Output.ToString());
        }
        finally
        {
            context.Output = outer;
        }
        return RenderFlow.Normal;
    }
}

internal sealed class LoopControlNode(int line, RenderFlow flow) : TemplateNode(line)
{
    public override RenderFlow Render(RenderContext context) => flow;
}

/// <summary><c>{% macro name(a, b='x') %}...{% endmacro %}</c>: defines a callable returning its
/// rendered body.</summary>
internal sealed class MacroNode(int line, string name, IReadOnlyList<(string Name, Expression? Default)> parameters, IReadOnlyList<TemplateNode> body)
    : TemplateNode(line)
{
    public override RenderFlow Render(RenderContext context)
    {
        context.Scope.Set(name, new Macro(name, parameters, body));
        return RenderFlow.Normal;
    }

    private sealed class Macro(string name, IReadOnlyList<(string Name, Expression? Default)> parameters, IReadOnlyList<TemplateNode> body)
        : JinjaCallable(name)
    {
        public override object? Invoke(CallArguments arguments, RenderContext context)
        {
            if (arguments.Positional.Count > parameters.Count)
                throw new TemplateException($"macro '{Name}' takes {parameters.Count} arguments, {arguments.Positional.Count} given");
            foreach (var keyword in arguments.Keyword.Keys)
            {
                if (!parameters.Any(parameter => parameter.Name == keyword))
                    throw new TemplateException($"macro '{Name}' has no parameter '{keyword}'");
            }
            if (context.CallDepth >= RenderContext.MaxCallDepth)
                throw new TemplateException($"macro '{Name}' recursed too deeply");

            var outerScope = context.Scope;
            var outerOutput = context.Output;
            context.Scope = new VariableScope(context.TopScope);
            context.Output = new StringBuilder();
            context.CallDepth++;
            try
            {
                for (var i = 0; i < parameters.Count; i++)
                {
                    var (parameter, fallback) = parameters[i];
                    var value = i < arguments.Positional.Count ? arguments.Positional[i]
                        : arguments.Keyword.TryGetValue(parameter, out var named) ? named
                        : fallback is not null ? fallback.Evaluate(context)
                        : Undefined.Name(parameter);
                    context.Scope.Set(parameter, value);
                }
                RenderAll(body, context);
                return context.Output.ToString();
            }
            finally
            {
                context.CallDepth--;
                context.Scope = outerScope;
                context.Output = outerOutput;
            }
        }
    }
}

