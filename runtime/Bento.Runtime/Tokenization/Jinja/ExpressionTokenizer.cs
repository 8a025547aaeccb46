using System.Globalization;
using System.Text;

namespace Bento.Runtime.Tokenization.Jinja;

/// <summary>Splits the contents of a <c>{{ }}</c> or <c>{% %}</c> tag into names, literals and operators.</summary>
internal static class ExpressionTokenizer
{
    private static readonly string[] TwoCharOperators = ["//", "**", "==", "!=", "<=", ">="];
    private const string OneCharOperators = "+-*/%~()[]{},.:|=<>";

    public static List<ExpressionToken> Tokenize(string content, int firstLine, string templateName)
    {
        var tokens = new List<ExpressionToken>();
        var line = firstLine;
        var i = 0;
        while (i < content.Length)
        {
            var c = content[i];
            if (c == '\n')
            {
                line++;
                i++;
                continue;
            }
            if (char.IsWhiteSpace(c))
            {
                i++;
                continue;
            }
            if (char.IsLetter(c) || c == '_')
            {
                var start = i;
                while (i < content.Length && (char.IsLetterOrDigit(content[i]) || content[i] == '_'))
                    i++;
                tokens.Add(new ExpressionToken(ExpressionTokenKind.Name, content[start..i], null, line));
                continue;
            }
            if (char.IsAsciiDigit(c))
            {
                tokens.Add(ReadNumber(content, ref i, line));
                continue;
            }
            if (c is '\'' or '"')
            {
                var startLine = line;
                var value = ReadString(content, ref i, ref line, templateName);
                tokens.Add(new ExpressionToken(ExpressionTokenKind.String, value, value, startLine));
                continue;
            }
            if (i + 1 < content.Length && Array.IndexOf(TwoCharOperators, content.Substring(i, 2)) >= 0)
            {
                tokens.Add(new ExpressionToken(ExpressionTokenKind.Operator, content.Substring(i, 2), null, line));
                i += 2;
                continue;
            }
            if (OneCharOperators.Contains(c))
            {
                tokens.Add(new ExpressionToken(ExpressionTokenKind.Operator, c.ToString(), null, line));
                i++;
                continue;
            }
            throw new TemplateException($"unexpected character '{c}'", line, templateName);
        }
        tokens.Add(new ExpressionToken(ExpressionTokenKind.End, "", null, line));
        return tokens;
    }

    private static ExpressionToken ReadNumber(string content, ref int i, int line)
    {
        var start = i;
        while (i < content.Length && (char.IsAsciiDigit(content[i]) || content[i] == '_'))
            i++;
        var isFloat = false;
        if (i + 1 < content.Length && content[i] == '.' && char.IsAsciiDigit(content[i + 1]))
        {
            isFloat = true;
            i++;
            while (i < content.Length && (char.IsAsciiDigit(content[i]) || content[i] == '_'))
                i++;
        }
        if (i < content.Length && content[i] is 'e' or 'E')
        {
            var exponent = i + 1;
            if (exponent < content.Length && content[exponent] is '+' or '-')
                exponent++;
            if (exponent < content.Length && char.IsAsciiDigit(content[exponent]))
            {
                isFloat = true;
                i = exponent;
                while (i < content.Length && char.IsAsciiDigit(content[i]))
                    i++;
            }
        }
        var text = content[start..i];
        var digits = text.Replace("_", "", StringComparison.Ordinal);
        // The casts keep the conditional from unifying both branches to double.
        var value = isFloat
            ? (object)double.Parse(digits, NumberStyles.Float, CultureInfo.InvariantCulture)
            : (object)long.Parse(digits, NumberStyles.None, CultureInfo.InvariantCulture);
        return new ExpressionToken(isFloat ? ExpressionTokenKind.Float : ExpressionTokenKind.Integer, text, value, line);
    }

    /// <summary>A quoted string with Python's escapes (\n, \t, \\, \', \uXXXX, ...); an unknown escape keeps
    /// its backslash, as Python does.</summary>
    private static string ReadString(string content, ref int i, ref int line, string templateName)
    {
        var quote = content[i];
        var startLine = line;
        i++;
        var value = new StringBuilder();
        while (i < content.Length && content[i] != quote)
        {
            var c = content[i];
            if (c == '\n')
                line++;
            if (c != '\\' || i + 1 >= content.Length)
            {
                value.Append(c);
                i++;
                continue;
            }
            var escape = content[i + 1];
            i += 2;
            switch (escape)
            {
                case 'n': value.Append('\n'); break;
                case 't': value.Append('\t'); break;
                case 'r': value.Append('\r'); break;
                case '0': value.Append('\0'); break;
                case 'a': value.Append('\a'); break;
                case 'b': value.Append('\b'); break;
                case 'f': value.Append('\f'); break;
                case 'v': value.Append('\v'); break;
                case '\\': value.Append('\\'); break;
                case '\'': value.Append('\''); break;
                case '"': value.Append('"'); break;
                case '\n': line++; break;   // a backslash-newline continues the string
                case 'x':
                    value.Append(ReadHexEscape(content, ref i, 2, line, templateName));
                    break;
                case 'u':
                    value.Append(ReadHexEscape(content, ref i, 4, line, templateName));
                    break;
                case 'U':
                    value.Append(ReadHexEscape(content, ref i, 8, line, templateName));
                    break;
                default:
                    value.Append('\\').Append(escape);
                    break;
            }
        }
        if (i >= content.Length)
            throw new TemplateException("string literal is never closed", startLine, templateName);
        i++;
        return value.ToString();
    }

    private static string ReadHexEscape(string content, ref int i, int digits, int line, string templateName)
    {
        if (i + digits > content.Length
            || !int.TryParse(content.AsSpan(i, digits), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var codePoint)
            || !Rune.IsValid(codePoint))
        {
            throw new TemplateException($"bad \\{(digits == 2 ? 'x' : digits == 4 ? 'u' : 'U')} escape in string literal", line, templateName);
        }
        i += digits;
        return char.ConvertFromUtf32(codePoint);
    }
}
