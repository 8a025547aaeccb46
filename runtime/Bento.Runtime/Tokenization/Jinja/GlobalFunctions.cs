namespace Bento.Runtime.Tokenization.Jinja;

/// <summary>
/// Functions every chat template can call, as transformers provides them: <c>raise_exception</c>,
/// <c>strftime_now</c>, plus Jinja's own <c>namespace</c>, <c>range</c> and <c>dict</c>.
/// </summary>
internal static class GlobalFunctions
{
    /// <summary>Longest list <c>range()</c> will build.</summary>
    private const long MaxRangeLength = 1_000_000;

    public static void Install(VariableScope scope, Func<DateTime> clock)
    {
        scope.Set("raise_exception", new NativeFunction("raise_exception", (args, _) =>
            throw new TemplateException(PythonValues.ToStr(args.Get(0, "message", "")), raisedByTemplate: true)));
        scope.Set("namespace", new NativeFunction("namespace", (args, _) =>
        {
            var ns = new JinjaNamespace();
            foreach (var positional in args.Positional)
            {
                if (positional is not Dictionary<string, object?> initial)
                    throw new TemplateException("namespace() takes only keyword arguments or a dict");
                foreach (var (key, value) in initial)
                    ns.Attributes[key] = value;
            }
            foreach (var (key, value) in args.Keyword)
                ns.Attributes[key] = value;
            return ns;
        }));
        scope.Set("dict", new NativeFunction("dict", (args, _) =>
        {
            var dict = new Dictionary<string, object?>(StringComparer.Ordinal);
            if (args.Positional.Count > 0 && args.Positional[0] is Dictionary<string, object?> initial)
            {
                foreach (var (key, value) in initial)
                    dict[key] = value;
            }
            foreach (var (key, value) in args.Keyword)
                dict[key] = value;
            return dict;
        }));
        scope.Set("range", new NativeFunction("range", (args, _) => Range(args)));
        scope.Set("strftime_now", new NativeFunction("strftime_now", (args, _) =>
            Strftime.Format(clock(), BuiltinMethods.RequireString(args.Get(0, "format"), "strftime_now"))));
    }

    private static List<object?> Range(CallArguments args)
    {
        var numbers = args.Positional.Select(PythonValues.ToLong).ToArray();
        var (start, stop, step) = numbers.Length switch
        {
            1 => (0L, numbers[0], 1L),
            2 => (numbers[0], numbers[1], 1L),
            3 => (numbers[0], numbers[1], numbers[2]),
            _ => throw new TemplateException("range() takes 1 to 3 arguments"),
        };
        if (step == 0)
            throw new TemplateException("range() step must not be zero");
        var length = step > 0 ? (stop - start + step - 1) / step : (start - stop - step - 1) / -step;
        if (length > MaxRangeLength)
            throw new TemplateException($"range() of {length} items is too large");
        var result = new List<object?>((int)Math.Max(length, 0));
        for (var i = start; step > 0 ? i < stop : i > stop; i += step)
            result.Add(i);
        return result;
    }
}
