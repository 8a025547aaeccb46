using System.Collections;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Bento.Runtime.Tokenization.Jinja;

/// <summary>
/// The value model of templates and the Python semantics chat templates were written against (they run
/// under Python's Jinja in transformers): None is null, booleans are bool, integers long, floats double,
/// strings string, lists and tuples <see cref="List{T}"/> of object?, dicts
/// <see cref="Dictionary{TKey,TValue}"/> of string to object? (insertion-ordered, as Python's are; we
/// never remove keys, which is what keeps .NET's enumeration in insertion order).
/// </summary>
internal static class PythonValues
{
    public static bool IsTruthy(object? value) => value switch
    {
        null or Undefined => false,
        bool b => b,
        long l => l != 0,
        double d => d != 0,
        string s => s.Length > 0,
        List<object?> list => list.Count > 0,
        Dictionary<string, object?> dict => dict.Count > 0,
        _ => true,
    };

    /// <summary>Python's str(): what <c>{{ value }}</c> prints.</summary>
    public static string ToStr(object? value) => value switch
    {
        string s => s,
        Undefined => "",
        null => "None",
        bool b => b ? "True" : "False",
        long l => l.ToString(CultureInfo.InvariantCulture),
        double d => FormatFloat(d),
        _ => Repr(value),
    };

    /// <summary>Python's repr(), used for items inside printed lists and dicts.</summary>
    public static string Repr(object? value)
    {
        switch (value)
        {
            case string s:
                return ReprString(s);
            case List<object?> list:
                return "[" + string.Join(", ", list.Select(Repr)) + "]";
            case Dictionary<string, object?> dict:
                return "{" + string.Join(", ", dict.Select(pair => ReprString(pair.Key) + ": " + Repr(pair.Value))) + "}";
            case JinjaNamespace ns:
                return "<Namespace " + Repr(ns.Attributes) + ">";
            case JinjaCallable callable:
                return $"<function {callable.Name}>";
            case LoopState:
                return "<LoopContext>";
            case GeneratorValue generator:
                return generator.ToString();
            default:
                return ToStr(value);
        }
    }

    /// <summary>Python's repr of a float: shortest round-trip digits, always with a '.' or exponent.</summary>
    public static string FormatFloat(double value)
    {
        if (double.IsNaN(value))
            return "nan";
        if (double.IsInfinity(value))
            return value > 0 ? "inf" : "-inf";
        if (value == Math.Floor(value) && Math.Abs(value) < 1e16)
        {
            var integral = value.ToString("F0", CultureInfo.InvariantCulture);
            return (value == 0 && double.IsNegative(value) ? "-0" : integral) + ".0";
        }
        var text = value.ToString("R", CultureInfo.InvariantCulture);
        return text.Replace("E", "e", StringComparison.Ordinal);
    }

    private static string ReprString(string s)
    {
        var quote = s.Contains('\'') && !s.Contains('"') ? '"' : '\'';
        var builder = new StringBuilder(s.Length + 2).Append(quote);
        foreach (var c in s)
        {
            switch (c)
            {
                case '\\': builder.Append("\\\\"); break;
                case '\n': builder.Append("\\n"); break;
                case '\r': builder.Append("\\r"); break;
                case '\t': builder.Append("\\t"); break;
                default:
                    if (c == quote)
                        builder.Append('\\').Append(c);
                    else if (c < 0x20 || c == 0x7F)
                        builder.Append("\\x").Append(((int)c).ToString("x2", CultureInfo.InvariantCulture));
                    else
                        builder.Append(c);
                    break;
            }
        }
        return builder.Append(quote).ToString();
    }

    /// <summary>Python's type name, for error messages that match what template authors see in Python.</summary>
    public static string TypeName(object? value) => value switch
    {
        null => "NoneType",
        Undefined => "Undefined",
        GeneratorValue generator => generator.Kind,
        bool => "bool",
        long => "int",
        double => "float",
        string => "str",
        List<object?> => "list",
        Dictionary<string, object?> => "dict",
        JinjaNamespace => "Namespace",
        JinjaCallable => "function",
        LoopState => "LoopContext",
        _ => value.GetType().Name,
    };

    public static bool IsNumber(object? value) => value is long or double or bool;

    /// <summary>Python's ==: numbers by value (True == 1), lists and dicts element-wise.</summary>
    public static bool AreEqual(object? a, object? b)
    {
        if (IsNumber(a) && IsNumber(b))
            return a is double || b is double ? ToDouble(a) == ToDouble(b) : ToLong(a) == ToLong(b);
        switch (a)
        {
            case null:
                return b is null;
            case Undefined:
                return b is Undefined;
            case string s:
                return b is string t && string.Equals(s, t, StringComparison.Ordinal);
            case List<object?> list:
                if (b is not List<object?> other || other.Count != list.Count)
                    return false;
                for (var i = 0; i < list.Count; i++)
                {
                    if (!AreEqual(list[i], other[i]))
                        return false;
                }
                return true;
            case Dictionary<string, object?> dict:
                if (b is not Dictionary<string, object?> otherDict || otherDict.Count != dict.Count)
                    return false;
                foreach (var (key, value) in dict)
                {
                    if (!otherDict.TryGetValue(key, out var otherValue) || !AreEqual(value, otherValue))
                        return false;
                }
                return true;
            default:
                return ReferenceEquals(a, b);
        }
    }

    /// <summary>Python's ordering for &lt;, &gt;, sort, min and max: numbers with numbers, strings with
    /// strings (by code point), lists lexicographically; anything else is a TypeError.</summary>
    public static int Compare(object? a, object? b, string operation = "<")
    {
        if (IsNumber(a) && IsNumber(b))
            return a is double || b is double ? ToDouble(a).CompareTo(ToDouble(b)) : ToLong(a).CompareTo(ToLong(b));
        if (a is string s && b is string t)
            return string.CompareOrdinal(s, t);
        if (a is List<object?> x && b is List<object?> y)
        {
            for (var i = 0; i < Math.Min(x.Count, y.Count); i++)
            {
                if (!AreEqual(x[i], y[i]))
                    return Compare(x[i], y[i], operation);
            }
            return x.Count.CompareTo(y.Count);
        }
        if (a is Undefined undefinedA)
            throw undefinedA.Error();
        if (b is Undefined undefinedB)
            throw undefinedB.Error();
        throw new TemplateException($"'{operation}' not supported between instances of '{TypeName(a)}' and '{TypeName(b)}'");
    }

    public static long ToLong(object? value) => value switch
    {
        long l => l,
        bool b => b ? 1 : 0,
        double d => (long)d,
        _ => throw new TemplateException($"expected a number, got '{TypeName(value)}'"),
    };

    public static double ToDouble(object? value) => value switch
    {
        double d => d,
        long l => l,
        bool b => b ? 1 : 0,
        _ => throw new TemplateException($"expected a number, got '{TypeName(value)}'"),
    };

    /// <summary>What a for loop walks: list items, dict keys, string characters; undefined is empty.</summary>
    public static IEnumerable<object?> Iterate(object? value) => value switch
    {
        List<object?> list => list,
        Dictionary<string, object?> dict => dict.Keys,
        GeneratorValue generator => generator.Items,
        string s => Characters(s),
        Undefined => [],
        _ => throw new TemplateException($"'{TypeName(value)}' object is not iterable"),
    };

    /// <summary>A string's characters as Python sees them: code points, not UTF-16 units.</summary>
    public static IEnumerable<object?> Characters(string text)
    {
        foreach (var rune in text.EnumerateRunes())
            yield return rune.ToString();
    }

    /// <summary>Python's len() of a string, in code points.</summary>
    public static int StringLength(string text)
    {
        var count = 0;
        foreach (var _ in text.EnumerateRunes())
            count++;
        return count;
    }

    /// <summary>Converts caller-supplied CLR data (strings, numbers, lists, dictionaries, JSON elements or
    /// nodes, <see cref="ChatMessage"/>s) into template values.</summary>
    public static object? FromClr(object? value)
    {
        switch (value)
        {
            case null:
                return null;
            case string or bool or long or double or Undefined or JinjaNamespace or JinjaCallable or GeneratorValue:
                return value;
            case int or short or byte or sbyte or ushort or uint:
                return Convert.ToInt64(value, CultureInfo.InvariantCulture);
            case ulong u:
                return (long)u;
            case float f:
                return (double)f;
            case decimal m:
                return (double)m;
            case char c:
                return c.ToString();
            case JsonElement element:
                return FromJson(element);
            case JsonNode node:
                return FromJson(JsonSerializer.SerializeToElement(node));
            case ChatMessage message:
                var fields = new Dictionary<string, object?>(StringComparer.Ordinal)
                {
                    ["role"] = message.Role,
                    ["content"] = message.Content,
                };
                if (message.Fields is not null)
                {
                    foreach (var (key, field) in message.Fields)
                        fields[key] = FromClr(field);
                }
                return fields;
            case IDictionary dictionary:
                var converted = new Dictionary<string, object?>(StringComparer.Ordinal);
                foreach (DictionaryEntry entry in dictionary)
                    converted[entry.Key.ToString() ?? ""] = FromClr(entry.Value);
                return converted;
            case IEnumerable<KeyValuePair<string, object?>> pairs:
                var fromPairs = new Dictionary<string, object?>(StringComparer.Ordinal);
                foreach (var (key, item) in pairs)
                    fromPairs[key] = FromClr(item);
                return fromPairs;
            case IEnumerable sequence:
                var list = new List<object?>();
                foreach (var item in sequence)
                    list.Add(FromClr(item));
                return list;
            default:
                throw new ArgumentException($"a value of type {value.GetType()} cannot be passed to a chat template");
        }
    }

    private static object? FromJson(JsonElement element) => element.ValueKind switch
    {
        JsonValueKind.String => element.GetString(),
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        JsonValueKind.Number => element.TryGetInt64(out var l) ? (object)l : (object)element.GetDouble(),
        JsonValueKind.Array => element.EnumerateArray().Select(FromJson).ToList(),
        JsonValueKind.Object => element.EnumerateObject().Aggregate(
            new Dictionary<string, object?>(StringComparer.Ordinal),
            (dict, property) => { dict[property.Name] = FromJson(property.Value); return dict; }),
        _ => null,
    };
}
