namespace Bento.Runtime.Tokenization.Jinja;

/// <summary>A Jinja test: the <c>name</c> in <c>value is name(args)</c>.</summary>
internal delegate bool TestFunction(object? value, CallArguments arguments, RenderContext context);

/// <summary>The tests Jinja ships that chat templates use (<c>is defined</c>, <c>is none</c>,
/// <c>is string</c>, ...), with Jinja's definitions (a bool is a number but not an integer).</summary>
internal static class TestFunctions
{
    private static readonly Dictionary<string, TestFunction> Tests = new(StringComparer.Ordinal)
    {
        ["defined"] = (value, _, _) => value is not Undefined,
        ["undefined"] = (value, _, _) => value is Undefined,
        ["none"] = (value, _, _) => value is null,
        ["string"] = (value, _, _) => value is string,
        ["number"] = (value, _, _) => value is long or double or bool,
        ["integer"] = (value, _, _) => value is long,
        ["float"] = (value, _, _) => value is double,
        ["boolean"] = (value, _, _) => value is bool,
        ["true"] = (value, _, _) => value is true,
        ["false"] = (value, _, _) => value is false,
        ["mapping"] = (value, _, _) => value is Dictionary<string, object?>,
        // Jinja's Undefined has a length and can be iterated, so it passes both of these.
        ["sequence"] = (value, _, _) => value is List<object?> or string or Dictionary<string, object?> or Undefined,
        ["iterable"] = (value, _, _) => value is List<object?> or string or Dictionary<string, object?> or Undefined or GeneratorValue,
        ["callable"] = (value, _, _) => value is JinjaCallable,
        ["even"] = (value, _, _) => PythonValues.AreEqual(Operators.Binary("%", value, 2L), 0L),
        ["odd"] = (value, _, _) => PythonValues.AreEqual(Operators.Binary("%", value, 2L), 1L),
        ["divisibleby"] = (value, args, _) => PythonValues.AreEqual(Operators.Binary("%", value, args.Get(0, "num")), 0L),
        ["eq"] = (value, args, _) => PythonValues.AreEqual(value, args.Get(0, "other")),
        ["ne"] = (value, args, _) => !PythonValues.AreEqual(value, args.Get(0, "other")),
        ["lt"] = (value, args, _) => PythonValues.Compare(value, args.Get(0, "other"), "<") < 0,
        ["le"] = (value, args, _) => PythonValues.Compare(value, args.Get(0, "other"), "<=") <= 0,
        ["gt"] = (value, args, _) => PythonValues.Compare(value, args.Get(0, "other"), ">") > 0,
        ["ge"] = (value, args, _) => PythonValues.Compare(value, args.Get(0, "other"), ">=") >= 0,
        ["in"] = (value, args, _) => Operators.Contains(args.Get(0, "seq"), value),
        ["sameas"] = (value, args, _) => SameAs(value, args.Get(0, "other")),
        ["lower"] = (value, _, _) => HasOnlyCase(PythonValues.ToStr(value), upper: false),
        ["upper"] = (value, _, _) => HasOnlyCase(PythonValues.ToStr(value), upper: true),
        ["escaped"] = (_, _, _) => false,
    };

    static TestFunctions()
    {
        foreach (var (alias, name) in new[] { ("equalto", "eq"), ("==", "eq"), ("!=", "ne"), ("lessthan", "lt"), ("<", "lt"),
                     ("<=", "le"), ("greaterthan", "gt"), (">", "gt"), (">=", "ge") })
        {
            Tests[alias] = Tests[name];
        }
    }

    public static bool TryGet(string name, out TestFunction test) => Tests.TryGetValue(name, out test!);

    /// <summary>Python's str.islower()/isupper(): at least one cased letter, and none of the other case.</summary>
    private static bool HasOnlyCase(string text, bool upper)
    {
        var anyCased = false;
        foreach (var c in text)
        {
            if (char.IsUpper(c))
            {
                if (!upper)
                    return false;
                anyCased = true;
            }
            else if (char.IsLower(c))
            {
                if (upper)
                    return false;
                anyCased = true;
            }
        }
        return anyCased;
    }

    /// <summary>Python's <c>is</c>: identity, which for the immutable singletons means equal value.</summary>
    private static bool SameAs(object? a, object? b) => a switch
    {
        null => b is null,
        bool x => b is bool y && x == y,
        _ => ReferenceEquals(a, b),
    };
}
