using System.Text;

namespace Bento.Runtime.Tokenization.Jinja;

/// <summary>Arithmetic, concatenation and membership with Python's rules (int/int stays int, / is true
/// division, // and % floor towards negative infinity, + joins strings and lists).</summary>
internal static class Operators
{
    /// <summary>Guards against a template building an enormous string or list by repetition.</summary>
    private const long MaxRepeatedLength = 10_000_000;

    public static object? Binary(string op, object? left, object? right)
    {
        if (op == "~")
            return PythonValues.ToStr(left) + PythonValues.ToStr(right);
        if (left is Undefined undefinedLeft)
            throw undefinedLeft.Error();
        if (right is Undefined undefinedRight)
            throw undefinedRight.Error();

        switch (op)
        {
            case "+":
                if (left is string a && right is string b)
                    return a + b;
                if (left is List<object?> x && right is List<object?> y)
                    return x.Concat(y).ToList();
                return Arithmetic(op, left, right, (p, q) => p + q, (p, q) => p + q);
            case "-":
                return Arithmetic(op, left, right, (p, q) => p - q, (p, q) => p - q);
            case "*":
                if (left is string text && right is long or bool)
                    return Repeat(text, PythonValues.ToLong(right));
                if (right is string text2 && left is long or bool)
                    return Repeat(text2, PythonValues.ToLong(left));
                if (left is List<object?> list && right is long or bool)
                    return RepeatList(list, PythonValues.ToLong(right));
                if (right is List<object?> list2 && left is long or bool)
                    return RepeatList(list2, PythonValues.ToLong(left));
                return Arithmetic(op, left, right, (p, q) => p * q, (p, q) => p * q);
            case "/":
                RequireNumbers(op, left, right);
                var divisor = PythonValues.ToDouble(right);
                if (divisor == 0)
                    throw new TemplateException("division by zero");
                return PythonValues.ToDouble(left) / divisor;
            case "//":
                RequireNonZero(op, left, right);
                return Arithmetic(op, left, right, FloorDivide, (p, q) => Math.Floor(p / q));
            case "%":
                RequireNonZero(op, left, right);
                return Arithmetic(op, left, right, (p, q) => p - FloorDivide(p, q) * q, (p, q) => p - Math.Floor(p / q) * q);
            case "**":
                RequireNumbers(op, left, right);
                if (left is not double && right is not double && PythonValues.ToLong(right) >= 0)
                    return (long)Math.Pow(PythonValues.ToLong(left), PythonValues.ToLong(right));
                return Math.Pow(PythonValues.ToDouble(left), PythonValues.ToDouble(right));
            default:
                throw new TemplateException($"unknown operator '{op}'");
        }
    }

    // Each arm is cast to object: a switch with long and double arms would otherwise be typed double.
    public static object? Negate(object? value) => value switch
    {
        long l => (object)(-l),
        double d => (object)(-d),
        bool b => (object)(b ? -1L : 0L),
        Undefined undefined => throw undefined.Error(),
        _ => throw new TemplateException($"bad operand type for unary -: '{PythonValues.TypeName(value)}'"),
    };

    /// <summary>Python's <c>item in container</c>.</summary>
    public static bool Contains(object? container, object? item) => container switch
    {
        string text => item is string part
            ? text.Contains(part, StringComparison.Ordinal)
            : throw new TemplateException($"'in <string>' requires string as left operand, not {PythonValues.TypeName(item)}"),
        List<object?> list => list.Any(element => PythonValues.AreEqual(element, item)),
        GeneratorValue generator => generator.Items.Any(element => PythonValues.AreEqual(element, item)),
        Dictionary<string, object?> dict => item is string key && dict.ContainsKey(key),
        JinjaNamespace ns => item is string name && ns.Attributes.ContainsKey(name),
        Undefined => false,
        _ => throw new TemplateException($"argument of type '{PythonValues.TypeName(container)}' is not iterable"),
    };

    private static object Arithmetic(string op, object? left, object? right, Func<long, long, long> integers, Func<double, double, double> floats)
    {
        RequireNumbers(op, left, right);
        // Cast each branch: a conditional of double and long would be typed double.
        return left is double || right is double
            ? (object)floats(PythonValues.ToDouble(left), PythonValues.ToDouble(right))
            : (object)integers(PythonValues.ToLong(left), PythonValues.ToLong(right));
    }

    private static void RequireNumbers(string op, object? left, object? right)
    {
        if (!PythonValues.IsNumber(left) || !PythonValues.IsNumber(right))
            throw new TemplateException($"unsupported operand type(s) for {op}: '{PythonValues.TypeName(left)}' and '{PythonValues.TypeName(right)}'");
    }

    private static void RequireNonZero(string op, object? left, object? right)
    {
        RequireNumbers(op, left, right);
        if (PythonValues.ToDouble(right) == 0)
            throw new TemplateException("integer division or modulo by zero");
    }

    private static long FloorDivide(long p, long q)
    {
        var quotient = p / q;
        return (p % q != 0) && ((p < 0) != (q < 0)) ? quotient - 1 : quotient;
    }

    private static string Repeat(string text, long count)
    {
        if (count <= 0 || text.Length == 0)
            return "";
        if (text.Length * count > MaxRepeatedLength)
            throw new TemplateException("string repetition is too large");
        return new StringBuilder(text.Length * (int)count).Insert(0, text, (int)count).ToString();
    }

    private static List<object?> RepeatList(List<object?> list, long count)
    {
        if (count <= 0)
            return [];
        if (list.Count * count > MaxRepeatedLength)
            throw new TemplateException("list repetition is too large");
        var result = new List<object?>(list.Count * (int)count);
        for (var i = 0; i < count; i++)
            result.AddRange(list);
        return result;
    }
}
