using System.Text;

namespace Bento.Images.Registry.Auth;

/// <summary>
/// One challenge of a <c>WWW-Authenticate</c> header: <c>Basic realm="x"</c> or
/// <c>Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull",error="insufficient_scope"</c>.
/// </summary>
public sealed record AuthChallenge(string Scheme, IReadOnlyDictionary<string, string> Parameters)
{
    public bool IsBearer => Scheme.Equals("Bearer", StringComparison.OrdinalIgnoreCase);
    public bool IsBasic => Scheme.Equals("Basic", StringComparison.OrdinalIgnoreCase);

    public string? Realm => Parameters.GetValueOrDefault("realm");
    public string? Service => Parameters.GetValueOrDefault("service");
    public string? Scope => Parameters.GetValueOrDefault("scope");
    public string? Error => Parameters.GetValueOrDefault("error");

    /// <summary>Every challenge in the header values (a header may hold several, comma-separated), in order.</summary>
    public static IReadOnlyList<AuthChallenge> Parse(IEnumerable<string> headerValues)
    {
        var result = new List<AuthChallenge>();
        foreach (var value in headerValues) ParseInto(value, result);
        return result;
    }

    /// <summary>Bearer when offered (it carries the scopes), else Basic, else null.</summary>
    public static AuthChallenge? Preferred(IReadOnlyList<AuthChallenge> challenges) =>
        challenges.FirstOrDefault(c => c.IsBearer) ?? challenges.FirstOrDefault(c => c.IsBasic);

    private static void ParseInto(string text, List<AuthChallenge> into)
    {
        var i = 0;
        string? scheme = null;
        var parameters = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        while (true)
        {
            SkipSeparators(text, ref i);
            if (i >= text.Length) break;
            var token = ReadToken(text, ref i);
            if (token.Length == 0) { i++; continue; }
            SkipSpaces(text, ref i);
            if (i < text.Length && text[i] == '=' && scheme is not null)
            {
                i++;
                SkipSpaces(text, ref i);
                parameters[token] = i < text.Length && text[i] == '"' ? ReadQuoted(text, ref i) : ReadToken(text, ref i);
            }
            else
            {
                // A token not followed by '=' starts a new challenge.
                if (scheme is not null) into.Add(new AuthChallenge(scheme, parameters));
                scheme = token;
                parameters = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            }
        }
        if (scheme is not null) into.Add(new AuthChallenge(scheme, parameters));
    }

    private static void SkipSpaces(string s, ref int i) { while (i < s.Length && s[i] is ' ' or '\t') i++; }

    private static void SkipSeparators(string s, ref int i) { while (i < s.Length && s[i] is ' ' or '\t' or ',') i++; }

    private static string ReadToken(string s, ref int i)
    {
        var start = i;
        while (i < s.Length && s[i] is not (' ' or '\t' or ',' or '=' or '"')) i++;
        return s[start..i];
    }

    private static string ReadQuoted(string s, ref int i)
    {
        var sb = new StringBuilder();
        i++; // opening quote
        while (i < s.Length && s[i] != '"')
        {
            if (s[i] == '\\' && i + 1 < s.Length) i++;
            sb.Append(s[i++]);
        }
        if (i < s.Length) i++; // closing quote
        return sb.ToString();
    }
}
