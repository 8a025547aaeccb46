using System.Text;

namespace Bento.Runtime.Tokenization.Jinja;

/// <summary>
/// The Python methods chat templates call on values: <c>content.strip()</c>,
/// <c>role.startswith('tool')</c>, <c>text.split('\n')</c>, <c>message.get('name')</c>,
/// <c>dict.items()</c> and the like.
/// </summary>
internal static class BuiltinMethods
{
    public static bool TryBind(object? target, string name, out NativeFunction method)
    {
        Func<CallArguments, object?>? body = target switch
        {
            string text => StringMethod(text, name),
            Dictionary<string, object?> dict => DictMethod(dict, name),
            List<object?> list => ListMethod(list, name),
            _ => null,
        };
        method = body is null ? null! : new NativeFunction(name, (arguments, _) => body(arguments));
        return body is not null;
    }

    private static Func<CallArguments, object?>? StringMethod(string text, string name) => name switch
    {
        "strip" => args => Strip(text, args.Get(0, "chars"), left: true, right: true),
        "lstrip" => args => Strip(text, args.Get(0, "chars"), left: true, right: false),
        "rstrip" => args => Strip(text, args.Get(0, "chars"), left: false, right: true),
        "startswith" => args => Affixes(args.Get(0, "prefix")).Any(prefix => text.StartsWith(prefix, StringComparison.Ordinal)),
        "endswith" => args => Affixes(args.Get(0, "suffix")).Any(suffix => text.EndsWith(suffix, StringComparison.Ordinal)),
        "split" => args => Split(text, args.Get(0, "sep"), args.Get(1, "maxsplit", -1L)),
        "splitlines" => _ => SplitLines(text),
        "upper" => _ => text.ToUpperInvariant(),
        "lower" => _ => text.ToLowerInvariant(),
        "title" => _ => Title(text),
        "capitalize" => _ => Capitalize(text),
        "replace" => args => Replace(text, RequireString(args.Get(0, "old"), "replace"), RequireString(args.Get(1, "new"), "replace"), args.Get(2, "count", -1L)),
        "find" => args => (long)text.IndexOf(RequireString(args.Get(0, "sub"), "find"), StringComparison.Ordinal),
        "rfind" => args => (long)text.LastIndexOf(RequireString(args.Get(0, "sub"), "rfind"), StringComparison.Ordinal),
        "count" => args => CountOccurrences(text, RequireString(args.Get(0, "sub"), "count")),
        "join" => args => string.Join(text, PythonValues.Iterate(args.Get(0, "iterable")).Select(PythonValues.ToStr)),
        "isdigit" => _ => text.Length > 0 && text.All(char.IsDigit),
        "isalpha" => _ => text.Length > 0 && text.All(char.IsLetter),
        "isspace" => _ => text.Length > 0 && text.All(char.IsWhiteSpace),
        "islower" => _ => text.Any(char.IsLetter) && !text.Any(char.IsUpper),
        "isupper" => _ => text.Any(char.IsLetter) && !text.Any(char.IsLower),
        _ => null,
    };

    private static Func<CallArguments, object?>? DictMethod(Dictionary<string, object?> dict, string name) => name switch
    {
        "items" => _ => dict.Select(pair => (object?)new List<object?> { pair.Key, pair.Value }).ToList(),
        "keys" => _ => dict.Keys.Select(key => (object?)key).ToList(),
        "values" => _ => dict.Values.ToList(),
        "get" => args => args.Get(0, "key") is string key && dict.TryGetValue(key, out var value) ? value : args.Get(1, "default"),
        _ => null,
    };

    private static Func<CallArguments, object?>? ListMethod(List<object?> list, string name) => name switch
    {
        "index" => args =>
        {
            var item = args.Get(0, "value");
            var index = list.FindIndex(element => PythonValues.AreEqual(element, item));
            return index >= 0 ? (long)index : throw new TemplateException($"{PythonValues.Repr(item)} is not in list");
        },
        "count" => args => (long)list.Count(element => PythonValues.AreEqual(element, args.Get(0, "value"))),
        _ => null,
    };

    /// <summary>Python's strip family: whitespace by default, else any of the given characters.</summary>
    public static string Strip(string text, object? chars, bool left, bool right)
    {
        if (chars is null or Undefined)
            return left && right ? text.Trim() : left ? text.TrimStart() : text.TrimEnd();
        var set = RequireString(chars, "strip").ToCharArray();
        return left && right ? text.Trim(set) : left ? text.TrimStart(set) : text.TrimEnd(set);
    }

    /// <summary>Python's split: no separator splits on runs of whitespace and drops empty parts.</summary>
    public static List<object?> Split(string text, object? separator, object? maxSplit)
    {
        var limit = maxSplit is null or Undefined ? -1 : PythonValues.ToLong(maxSplit);
        var parts = new List<object?>();
        if (separator is null or Undefined)
        {
            var i = 0;
            while (i < text.Length)
            {
                while (i < text.Length && char.IsWhiteSpace(text[i]))
                    i++;
                if (i >= text.Length)
                    break;
                if (limit >= 0 && parts.Count == limit)
                {
                    parts.Add(text[i..].TrimEnd());
                    break;
                }
                var start = i;
                while (i < text.Length && !char.IsWhiteSpace(text[i]))
                    i++;
                parts.Add(text[start..i]);
            }
            return parts;
        }
        var sep = RequireString(separator, "split");
        if (sep.Length == 0)
            throw new TemplateException("empty separator");
        var position = 0;
        while (limit < 0 || parts.Count < limit)
        {
            var at = text.IndexOf(sep, position, StringComparison.Ordinal);
            if (at < 0)
                break;
            parts.Add(text[position..at]);
            position = at + sep.Length;
        }
        parts.Add(text[position..]);
        return parts;
    }

    /// <summary>Python's splitlines(): breaks at \n, \r and \r\n, with no empty last line.</summary>
    private static List<object?> SplitLines(string text)
    {
        var lines = new List<object?>();
        var start = 0;
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] is not ('\n' or '\r'))
                continue;
            lines.Add(text[start..i]);
            if (text[i] == '\r' && i + 1 < text.Length && text[i + 1] == '\n')
                i++;
            start = i + 1;
        }
        if (start < text.Length)
            lines.Add(text[start..]);
        return lines;
    }

    public static string Capitalize(string text) =>
        text.Length == 0 ? text : char.ToUpperInvariant(text[0]) + text[1..].ToLowerInvariant();

    /// <summary>Python's str.title(): each run of letters starts upper case and continues lower case.</summary>
    public static string Title(string text)
    {
        var builder = new StringBuilder(text.Length);
        var previousIsLetter = false;
        foreach (var c in text)
        {
            builder.Append(previousIsLetter ? char.ToLowerInvariant(c) : char.ToUpperInvariant(c));
            previousIsLetter = char.IsLetter(c);
        }
        return builder.ToString();
    }

    public static string Replace(string text, string old, string replacement, object? count)
    {
        var limit = count is null or Undefined ? -1 : PythonValues.ToLong(count);
        if (limit < 0)
            return old.Length == 0 ? text : text.Replace(old, replacement, StringComparison.Ordinal);
        var builder = new StringBuilder();
        var position = 0;
        for (var done = 0; done < limit && old.Length > 0; done++)
        {
            var at = text.IndexOf(old, position, StringComparison.Ordinal);
            if (at < 0)
                break;
            builder.Append(text, position, at - position).Append(replacement);
            position = at + old.Length;
        }
        return builder.Append(text, position, text.Length - position).ToString();
    }

    private static long CountOccurrences(string text, string part)
    {
        if (part.Length == 0)
            return PythonValues.StringLength(text) + 1;
        long count = 0;
        for (var at = text.IndexOf(part, StringComparison.Ordinal); at >= 0; at = text.IndexOf(part, at + part.Length, StringComparison.Ordinal))
            count++;
        return count;
    }

    /// <summary>startswith/endswith take one string or a tuple of them.</summary>
    private static IEnumerable<string> Affixes(object? value) => value switch
    {
        string single => [single],
        List<object?> several => several.Select(item => RequireString(item, "startswith")),
        _ => throw new TemplateException($"startswith/endswith expects a string or a tuple of strings, not '{PythonValues.TypeName(value)}'"),
    };

    public static string RequireString(object? value, string method) => value switch
    {
        string text => text,
        Undefined undefined => throw undefined.Error(),
        _ => throw new TemplateException($"{method}() expects a string, not '{PythonValues.TypeName(value)}'"),
    };
}
