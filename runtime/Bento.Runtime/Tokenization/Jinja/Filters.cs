using System.Globalization;
using System.Net;
using System.Text;
using System.Text.RegularExpressions;

namespace Bento.Runtime.Tokenization.Jinja;

/// <summary>A Jinja filter: the <c>name</c> in <c>value | name(args)</c>.</summary>
internal delegate object? FilterFunction(object? value, CallArguments arguments, RenderContext context);

/// <summary>
/// Jinja's built-in filters that chat templates use, with Jinja's parameter names and defaults, plus
/// transformers' own <c>tojson</c>.
/// </summary>
internal static class Filters
{
    /// <summary>What wordcount counts: runs of word characters, as Jinja's \w+ does.</summary>
    private static readonly Regex WordPattern = new(@"\w+", RegexOptions.CultureInvariant);

    /// <summary>Python's ordering, for sort, dictsort, min and max.</summary>
    private static readonly Comparer<object?> PythonOrder = Comparer<object?>.Create((a, b) => PythonValues.Compare(a, b));

    private static readonly Dictionary<string, FilterFunction> All = new(StringComparer.Ordinal)
    {
        ["trim"] = (value, args, _) => BuiltinMethods.Strip(PythonValues.ToStr(value), args.Get(0, "chars"), left: true, right: true),
        ["upper"] = (value, _, _) => PythonValues.ToStr(value).ToUpperInvariant(),
        ["lower"] = (value, _, _) => PythonValues.ToStr(value).ToLowerInvariant(),
        ["capitalize"] = (value, _, _) => BuiltinMethods.Capitalize(PythonValues.ToStr(value)),
        ["title"] = (value, _, _) => TitleWords(PythonValues.ToStr(value)),
        ["length"] = (value, _, _) => Length(value),
        ["count"] = (value, _, _) => Length(value),
        ["string"] = (value, _, _) => PythonValues.ToStr(value),
        ["safe"] = (value, _, _) => value,
        ["escape"] = (value, _, _) => WebUtility.HtmlEncode(PythonValues.ToStr(value)),
        ["e"] = (value, _, _) => WebUtility.HtmlEncode(PythonValues.ToStr(value)),
        ["tojson"] = (value, args, _) => PythonJson.Serialize(value,
            args.Get(1, "indent") is { } indent and not Undefined ? (int)PythonValues.ToLong(indent) : null,
            ensureAscii: PythonValues.IsTruthy(args.Get(0, "ensure_ascii", false)),
            sortKeys: PythonValues.IsTruthy(args.Get(3, "sort_keys", false))),
        ["first"] = (value, _, _) => Items(value).FirstOrDefault(new Undefined("first() of an empty sequence")),
        ["last"] = (value, _, _) => value is Undefined ? value : Items(value).DefaultIfEmpty(new Undefined("last() of an empty sequence")).Last(),
        ["default"] = Default,
        ["d"] = Default,
        ["join"] = (value, args, _) => string.Join(
            PythonValues.ToStr(args.Get(0, "d", "")),
            Items(value).Select(item => PythonValues.ToStr(args.Get(1, "attribute") is { } attribute and not Undefined ? Attribute(item, attribute) : item))),
        ["replace"] = (value, args, _) => BuiltinMethods.Replace(PythonValues.ToStr(value),
            PythonValues.ToStr(args.Get(0, "old")), PythonValues.ToStr(args.Get(1, "new")), args.Get(2, "count")),
        ["int"] = (value, args, _) => ToInt(value, args.Get(0, "default", 0L), args.Get(1, "base", 10L)),
        ["float"] = (value, args, _) => ToFloat(value, args.Get(0, "default", 0.0)),
        ["abs"] = (value, _, _) => value switch
        {
            long l => (object)Math.Abs(l),
            double d => (object)Math.Abs(d),
            bool b => (object)(b ? 1L : 0L),
            _ => throw new TemplateException($"bad operand type for abs(): '{PythonValues.TypeName(value)}'"),
        },
        ["round"] = (value, args, _) => Round(value, (int)PythonValues.ToLong(args.Get(0, "precision", 0L)), PythonValues.ToStr(args.Get(1, "method", "common"))),
        ["list"] = (value, _, _) => Items(value).ToList(),
        ["items"] = (value, _, _) => value switch
        {
            Dictionary<string, object?> dict => dict.Select(pair => (object?)new List<object?> { pair.Key, pair.Value }).ToList(),
            Undefined => new List<object?>(),
            _ => throw new TemplateException($"items() needs a dict, not '{PythonValues.TypeName(value)}'"),
        },
        ["dictsort"] = (value, args, _) => DictSort(value, args),
        ["reverse"] = (value, _, _) => value is string text
            ? string.Concat(PythonValues.Characters(text).Reverse())
            : new GeneratorValue(Items(value).Reverse().ToList(), "list_reverseiterator"),
        ["sort"] = (value, args, _) => Sort(value, args),
        ["unique"] = (value, args, _) => new GeneratorValue(Unique(value, args), "generator"),
        ["min"] = (value, args, _) => Extreme(value, args, pickLarger: false),
        ["max"] = (value, args, _) => Extreme(value, args, pickLarger: true),
        ["sum"] = (value, args, _) => Sum(value, args),
        ["map"] = Map,
        ["select"] = (value, args, context) => Select(value, args, context, keep: true, byAttribute: false),
        ["reject"] = (value, args, context) => Select(value, args, context, keep: false, byAttribute: false),
        ["selectattr"] = (value, args, context) => Select(value, args, context, keep: true, byAttribute: true),
        ["rejectattr"] = (value, args, context) => Select(value, args, context, keep: false, byAttribute: true),
        ["attr"] = (value, args, _) => ValueAccess.GetAttribute(value, PythonValues.ToStr(args.Get(0, "name"))),
        ["indent"] = (value, args, _) => Indent(PythonValues.ToStr(value), args.Get(0, "width", 4L),
            PythonValues.IsTruthy(args.Get(1, "first", false)), PythonValues.IsTruthy(args.Get(2, "blank", false))),
        ["wordcount"] = (value, _, _) => (long)WordPattern.Count(PythonValues.ToStr(value)),
        ["center"] = (value, args, _) =>
        {
            var text = PythonValues.ToStr(value);
            var width = (int)PythonValues.ToLong(args.Get(0, "width", 80L));
            var padding = Math.Max(0, width - text.Length);
            return new string(' ', padding / 2) + text + new string(' ', padding - padding / 2);
        },
    };

    public static bool TryGet(string name, out FilterFunction filter) => All.TryGetValue(name, out filter!);

    private static object? Default(object? value, CallArguments args, RenderContext context)
    {
        var useWhenFalse = PythonValues.IsTruthy(args.Get(1, "boolean", false));
        return value is Undefined || (useWhenFalse && !PythonValues.IsTruthy(value)) ? args.Get(0, "default_value", "") : value;
    }

    private static long Length(object? value) => value switch
    {
        string text => PythonValues.StringLength(text),
        List<object?> list => list.Count,
        Dictionary<string, object?> dict => dict.Count,
        Undefined => 0,
        _ => throw new TemplateException($"object of type '{PythonValues.TypeName(value)}' has no len()"),
    };

    private static IEnumerable<object?> Items(object? value) => PythonValues.Iterate(value);

    /// <summary>Jinja's attribute getter for filters: "a.b" walks nested keys, "0" indexes.</summary>
    private static object? Attribute(object? item, object? path)
    {
        foreach (var part in PythonValues.ToStr(path).Split('.'))
        {
            item = long.TryParse(part, NumberStyles.Integer, CultureInfo.InvariantCulture, out var index)
                ? ValueAccess.GetItem(item, index)
                : ValueAccess.GetItem(item, part);
        }
        return item;
    }

    private static object? ToInt(object? value, object? fallback, object? numberBase)
    {
        switch (value)
        {
            case Undefined undefined:
                throw undefined.Error();
            case long l:
                return l;
            case bool b:
                return b ? 1L : 0L;
            case double d:
                return double.IsFinite(d) ? (long)Math.Truncate(d) : fallback;
            case string text:
                var trimmed = text.Trim().Replace("_", "", StringComparison.Ordinal);
                var radix = (int)PythonValues.ToLong(numberBase);
                try
                {
                    if (radix == 10)
                    {
                        if (long.TryParse(trimmed, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var parsed))
                            return parsed;
                    }
                    else if (radix is 2 or 8 or 16)
                    {
                        var digits = trimmed.Length > 2 && trimmed[0] == '0' && char.IsLetter(trimmed[1]) ? trimmed[2..] : trimmed;
                        return Convert.ToInt64(digits, radix);
                    }
                }
                catch (FormatException)
                {
                    return fallback;
                }
                catch (OverflowException)
                {
                    return fallback;
                }
                return double.TryParse(trimmed, NumberStyles.Float, CultureInfo.InvariantCulture, out var asFloat) && double.IsFinite(asFloat)
                    ? (long)Math.Truncate(asFloat)
                    : fallback;
            default:
                return fallback;
        }
    }

    private static object? ToFloat(object? value, object? fallback) => value switch
    {
        Undefined undefined => throw undefined.Error(),
        double d => d,
        long l => (double)l,
        bool b => b ? 1.0 : 0.0,
        string text when double.TryParse(text.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var parsed) => parsed,
        _ => fallback,
    };

    /// <summary>Jinja's round: Python's round() for "common" (an int stays an int; halves go to even, as
    /// Python's do), math.ceil/floor scaled by the precision otherwise.</summary>
    private static object Round(object? value, int precision, string method)
    {
        if (value is Undefined undefined)
            throw undefined.Error();
        var scale = Math.Pow(10, precision);
        // Arms cast to object, or the switch would be typed double and turn the int case into a float.
        return method switch
        {
            "common" when value is long or bool && precision >= 0 => (object)PythonValues.ToLong(value),
            "common" => (object)Math.Round(PythonValues.ToDouble(value), Math.Clamp(precision, 0, 15), MidpointRounding.ToEven),
            "ceil" => (object)(Math.Ceiling(PythonValues.ToDouble(value) * scale) / scale),
            "floor" => (object)(Math.Floor(PythonValues.ToDouble(value) * scale) / scale),
            _ => throw new TemplateException("round() method must be 'common', 'ceil' or 'floor'"),
        };
    }

    /// <summary>Sort key that folds case unless asked not to, as Jinja's sort, unique and dictsort do.</summary>
    private static object? CaseKey(object? value, bool caseSensitive) =>
        !caseSensitive && value is string text ? text.ToLowerInvariant() : value;

    private static List<object?> Sort(object? value, CallArguments args)
    {
        var reverse = PythonValues.IsTruthy(args.Get(0, "reverse", false));
        var caseSensitive = PythonValues.IsTruthy(args.Get(1, "case_sensitive", false));
        var attribute = args.Get(2, "attribute");
        object? Key(object? item) => CaseKey(attribute is null or Undefined ? item : Attribute(item, attribute), caseSensitive);
        var items = Items(value);
        return (reverse ? items.OrderByDescending(Key, PythonOrder) : items.OrderBy(Key, PythonOrder)).ToList();
    }

    private static List<object?> DictSort(object? value, CallArguments args)
    {
        if (value is not Dictionary<string, object?> dict)
            throw new TemplateException($"dictsort() needs a dict, not '{PythonValues.TypeName(value)}'");
        var caseSensitive = PythonValues.IsTruthy(args.Get(0, "case_sensitive", false));
        var byValue = PythonValues.ToStr(args.Get(1, "by", "key")) == "value";
        var reverse = PythonValues.IsTruthy(args.Get(2, "reverse", false));
        var pairs = dict.Select(pair => (object?)new List<object?> { pair.Key, pair.Value });
        object? Key(object? pair) => CaseKey(((List<object?>)pair!)[byValue ? 1 : 0], caseSensitive);
        return (reverse ? pairs.OrderByDescending(Key, PythonOrder) : pairs.OrderBy(Key, PythonOrder)).ToList();
    }

    private static List<object?> Unique(object? value, CallArguments args)
    {
        var caseSensitive = PythonValues.IsTruthy(args.Get(0, "case_sensitive", false));
        var attribute = args.Get(1, "attribute");
        var seen = new List<object?>();
        var result = new List<object?>();
        foreach (var item in Items(value))
        {
            var key = CaseKey(attribute is null or Undefined ? item : Attribute(item, attribute), caseSensitive);
            if (seen.Any(previous => PythonValues.AreEqual(previous, key)))
                continue;
            seen.Add(key);
            result.Add(item);
        }
        return result;
    }

    private static object? Extreme(object? value, CallArguments args, bool pickLarger)
    {
        var caseSensitive = PythonValues.IsTruthy(args.Get(0, "case_sensitive", false));
        var attribute = args.Get(1, "attribute");
        object? best = null;
        object? bestKey = null;
        var any = false;
        foreach (var item in Items(value))
        {
            var key = CaseKey(attribute is null or Undefined ? item : Attribute(item, attribute), caseSensitive);
            if (!any || (pickLarger ? PythonValues.Compare(key, bestKey) > 0 : PythonValues.Compare(key, bestKey) < 0))
            {
                best = item;
                bestKey = key;
                any = true;
            }
        }
        return any ? best : new Undefined("min()/max() of an empty sequence");
    }

    private static object? Sum(object? value, CallArguments args)
    {
        var attribute = args.Get(0, "attribute");
        var total = args.Get(1, "start", 0L);
        foreach (var item in Items(value))
            total = Operators.Binary("+", total, attribute is null or Undefined ? item : Attribute(item, attribute));
        return total;
    }

    /// <summary><c>map(attribute='x')</c> picks an attribute of each item; <c>map('filter', args)</c>
    /// applies another filter to each.</summary>
    private static GeneratorValue Map(object? value, CallArguments args, RenderContext context)
    {
        if (args.Keyword.TryGetValue("attribute", out var attribute))
        {
            var fallback = args.Keyword.GetValueOrDefault("default");
            return new GeneratorValue(Items(value).Select(item =>
            {
                var picked = Attribute(item, attribute);
                return picked is Undefined && args.Keyword.ContainsKey("default") ? fallback : picked;
            }).ToList(), "generator");
        }
        if (args.Positional.Count == 0 || args.Positional[0] is not string filterName)
            throw new TemplateException("map() needs a filter name or attribute=");
        if (!TryGet(filterName, out var filter))
            throw new TemplateException($"no filter named '{filterName}'");
        var rest = new CallArguments(args.Positional.Skip(1).ToList(), args.Keyword);
        return new GeneratorValue(Items(value).Select(item => filter(item, rest, context)).ToList(), "generator");
    }

    /// <summary>select/reject keep items passing a test (or truthy ones); the attr forms test an
    /// attribute of each item.</summary>
    private static GeneratorValue Select(object? value, CallArguments args, RenderContext context, bool keep, bool byAttribute)
    {
        var position = 0;
        object? attribute = null;
        if (byAttribute)
        {
            if (args.Positional.Count == 0)
                throw new TemplateException("selectattr()/rejectattr() need an attribute name");
            attribute = args.Positional[position++];
        }
        TestFunction? test = null;
        if (position < args.Positional.Count)
        {
            var testName = PythonValues.ToStr(args.Positional[position++]);
            if (!TestFunctions.TryGet(testName, out var found))
                throw new TemplateException($"no test named '{testName}'");
            test = found;
        }
        var testArgs = new CallArguments(args.Positional.Skip(position).ToList(), args.Keyword);
        return new GeneratorValue(Items(value).Where(item =>
        {
            var subject = byAttribute ? Attribute(item, attribute) : item;
            var passed = test is null ? PythonValues.IsTruthy(subject) : test(subject, testArgs, context);
            return passed == keep;
        }).ToList(), "generator");
    }

    /// <summary>Jinja's title filter, which is not Python's str.title(): words begin only after whitespace,
    /// '-' or an opening bracket, so "it's" stays "It's" and a quoted word keeps its first letter lower.</summary>
    private static string TitleWords(string text)
    {
        var result = new StringBuilder(text.Length);
        var atWordStart = true;
        foreach (var c in text)
        {
            var separator = char.IsWhiteSpace(c) || c is '-' or '(' or '{' or '[' or '<';
            result.Append(separator ? c : atWordStart ? char.ToUpperInvariant(c) : char.ToLowerInvariant(c));
            atWordStart = separator;
        }
        return result.ToString();
    }

    /// <summary>Jinja 3's indent: every line but the first (unless first=true) gets the indentation;
    /// blank lines stay empty unless blank=true.</summary>
    private static string Indent(string text, object? width, bool first, bool blank)
    {
        var indentation = width is string literal ? literal : new string(' ', (int)PythonValues.ToLong(width));
        var lines = BuiltinMethods.Split(text + "\n", "\n", null).Select(PythonValues.ToStr).ToList();
        lines.RemoveAt(lines.Count - 1);
        var result = new StringBuilder();
        for (var i = 0; i < lines.Count; i++)
        {
            if (i > 0)
                result.Append('\n');
            var line = lines[i];
            if (i > 0 && (blank || line.Length > 0))
                result.Append(indentation);
            result.Append(line);
        }
        return first ? indentation + result : result.ToString();
    }
}
