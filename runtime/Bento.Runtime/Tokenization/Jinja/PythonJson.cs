using System.Globalization;
using System.Text;

namespace Bento.Runtime.Tokenization.Jinja;

/// <summary>
/// The <c>tojson</c> filter as transformers defines it for chat templates: Python's
/// <c>json.dumps(value, ensure_ascii=False, indent=indent, sort_keys=False)</c>. Tool-calling templates
/// paste its output into prompts, so the spacing (", " and ": " when not indented, "," and newlines
/// when indented) must match what models were trained on.
/// </summary>
internal sealed class PythonJson
{
    private readonly StringBuilder _output = new();
    private readonly int? _indent;
    private readonly bool _ensureAscii;
    private readonly bool _sortKeys;

    private PythonJson(int? indent, bool ensureAscii, bool sortKeys)
    {
        _indent = indent;
        _ensureAscii = ensureAscii;
        _sortKeys = sortKeys;
    }

    /// <param name="ensureAscii">Escape non-ASCII characters as \uXXXX.</param>
    /// <param name="sortKeys">Write dictionary keys sorted rather than in insertion order.</param>
    public static string Serialize(object? value, int? indent, bool ensureAscii = false, bool sortKeys = false)
    {
        var writer = new PythonJson(indent, ensureAscii, sortKeys);
        writer.Write(value, 0);
        return writer._output.ToString();
    }

    private void Write(object? value, int depth)
    {
        switch (value)
        {
            case null:
                _output.Append("null");
                break;
            case bool b:
                _output.Append(b ? "true" : "false");
                break;
            case long l:
                _output.Append(l.ToString(CultureInfo.InvariantCulture));
                break;
            case double d:
                _output.Append(double.IsNaN(d) ? "NaN" : double.IsInfinity(d) ? (d > 0 ? "Infinity" : "-Infinity") : PythonValues.FormatFloat(d));
                break;
            case string s:
                WriteString(s);
                break;
            case List<object?> list:
                WriteContainer('[', ']', list, depth, Write);
                break;
            case Dictionary<string, object?> dict:
                var pairs = _sortKeys ? dict.OrderBy(pair => pair.Key, StringComparer.Ordinal).ToList() : dict.ToList();
                WriteContainer('{', '}', pairs, depth, (pair, itemDepth) =>
                {
                    WriteString(pair.Key);
                    _output.Append(": ");
                    Write(pair.Value, itemDepth);
                });
                break;
            case JinjaNamespace ns:
                Write(ns.Attributes, depth);
                break;
            default:
                throw new TemplateException($"Object of type {PythonValues.TypeName(value)} is not JSON serializable");
        }
    }

    private void WriteContainer<T>(char open, char close, IReadOnlyList<T> items, int depth, Action<T, int> writeItem)
    {
        _output.Append(open);
        if (items.Count == 0)
        {
            _output.Append(close);
            return;
        }
        for (var i = 0; i < items.Count; i++)
        {
            if (_indent is { } width)
                _output.Append(i == 0 ? "\n" : ",\n").Append(' ', width * (depth + 1));
            else if (i > 0)
                _output.Append(", ");
            writeItem(items[i], depth + 1);
        }
        if (_indent is { } closingWidth)
            _output.Append('\n').Append(' ', closingWidth * depth);
        _output.Append(close);
    }

    private void WriteString(string text)
    {
        _output.Append('"');
        foreach (var c in text)
        {
            switch (c)
            {
                case '"': _output.Append("\\\""); break;
                case '\\': _output.Append("\\\\"); break;
                case '\n': _output.Append("\\n"); break;
                case '\r': _output.Append("\\r"); break;
                case '\t': _output.Append("\\t"); break;
                case '\b': _output.Append("\\b"); break;
                case '\f': _output.Append("\\f"); break;
                default:
                    if (c < 0x20 || (_ensureAscii && c > 0x7E))
                        _output.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    else
                        _output.Append(c);
                    break;
            }
        }
        _output.Append('"');
    }
}
