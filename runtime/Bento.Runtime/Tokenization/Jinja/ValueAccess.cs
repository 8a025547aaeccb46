namespace Bento.Runtime.Tokenization.Jinja;

/// <summary>
/// <c>value.name</c>, <c>value[key]</c> and <c>value[start:stop:step]</c> with Jinja's lookup order:
/// attribute syntax tries methods first and then keys, subscript syntax tries keys first; anything
/// missing is <see cref="Undefined"/> rather than an error, so <c>message.tool_calls is defined</c> works.
/// </summary>
internal static class ValueAccess
{
    public static object? GetAttribute(object? target, string name)
    {
        switch (target)
        {
            case Undefined undefined:
                throw undefined.Error();
            case JinjaNamespace ns:
                return ns.Attributes.TryGetValue(name, out var attribute) ? attribute : Missing(target, name);
            case LoopState loop:
                return loop.GetAttribute(name);
        }
        if (BuiltinMethods.TryBind(target, name, out var method))
            return method;
        if (target is Dictionary<string, object?> dict && dict.TryGetValue(name, out var value))
            return value;
        return Missing(target, name);
    }

    public static object? GetItem(object? target, object? key)
    {
        switch (target)
        {
            case Undefined undefined:
                throw undefined.Error();
            case Dictionary<string, object?> dict:
                if (key is string name && dict.TryGetValue(name, out var value))
                    return value;
                break;
            case List<object?> list when key is long or bool:
                var index = PythonValues.ToLong(key);
                if (index < 0)
                    index += list.Count;
                return index >= 0 && index < list.Count ? list[(int)index] : new Undefined($"list index {key} out of range");
            case string text when key is long or bool:
                var characters = PythonValues.Characters(text).ToList();
                var at = PythonValues.ToLong(key);
                if (at < 0)
                    at += characters.Count;
                return at >= 0 && at < characters.Count ? characters[(int)at] : new Undefined($"string index {key} out of range");
        }
        // Subscripting falls back to attribute lookup, as Jinja's does (ns['x'], loop['index']).
        return key is string attribute ? GetAttribute(target, attribute) : Missing(target, PythonValues.ToStr(key));
    }

    /// <summary>Python slicing of lists and strings, negative indices and steps included.</summary>
    public static object? Slice(object? target, object? start, object? stop, object? step)
    {
        if (target is Undefined undefined)
            throw undefined.Error();
        var stepValue = step is null or Undefined ? 1 : PythonValues.ToLong(step);
        if (stepValue == 0)
            throw new TemplateException("slice step cannot be zero");

        List<object?> items = target switch
        {
            List<object?> list => list,
            string text => PythonValues.Characters(text).ToList(),
            _ => throw new TemplateException($"'{PythonValues.TypeName(target)}' object is not subscriptable"),
        };
        var count = items.Count;
        long Bound(object? value, long whenAbsent)
        {
            if (value is null or Undefined)
                return whenAbsent;
            var index = PythonValues.ToLong(value);
            if (index < 0)
                index += count;
            return stepValue > 0 ? Math.Clamp(index, 0, count) : Math.Clamp(index, -1, count - 1);
        }
        var from = Bound(start, stepValue > 0 ? 0 : count - 1);
        var to = Bound(stop, stepValue > 0 ? count : -1);

        var result = new List<object?>();
        for (var i = from; stepValue > 0 ? i < to : i > to; i += stepValue)
            result.Add(items[(int)i]);
        return target is string ? string.Concat(result.Cast<string>()) : result;
    }

    private static Undefined Missing(object? target, string name) =>
        new($"'{PythonValues.TypeName(target)} object' has no attribute '{name}'");
}
