using System.Text.RegularExpressions;

namespace Bento.Images.Registry.Auth;

/// <summary>
/// Removes credentials people paste into image references and URLs (<c>https://me:TOKEN@ghcr.io/me/app</c>,
/// <c>me:TOKEN@ghcr.io/me/app</c>, <c>TOKEN@localhost:5000/app</c>) from free text before it is shown: the CLI passes
/// every error message and stack trace through <see cref="Message"/>. Only a <c>...@HOST/</c> shape is touched (an '@'
/// followed by a host and a '/'), so digests (<c>repo@sha256:…</c>), versions and paths are left as they are.
/// </summary>
public static partial class Redaction
{
    public const string Mask = "***";

    // scheme://USERINFO@
    [GeneratedRegex(@"(?<=://)[^\s/@'""]+@")]
    private static partial Regex UrlUserInfo();

    // USER:PASSWORD@HOST/ at the start of a word
    [GeneratedRegex(@"(?<![^\s'""(=,])[^\s/@'"":]+:[^\s/@'""]+@(?=[^\s/@'""]+/)")]
    private static partial Regex UserPassword();

    // TOKEN@HOST/ where HOST looks like a registry (has '.' or ':', or is localhost), at the start of a word
    [GeneratedRegex(@"(?<![^\s'""(=,])[^\s/@'"":]+@(?=(?:[^\s/@'""]*[.:][^\s/@'""]*|localhost)/)")]
    private static partial Regex TokenAtHost();

    /// <summary>The text with every credential-shaped <c>USERINFO@</c> replaced by <c>***@</c>.</summary>
    public static string Message(string text)
    {
        if (!text.Contains('@')) return text;
        text = UrlUserInfo().Replace(text, Mask + "@");
        text = UserPassword().Replace(text, Mask + "@");
        return TokenAtHost().Replace(text, Mask + "@");
    }
}
