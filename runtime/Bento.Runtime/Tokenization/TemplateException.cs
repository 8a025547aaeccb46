namespace Bento.Runtime.Tokenization;

/// <summary>
/// A chat template that does not parse, fails while rendering, or rejects the conversation through
/// <c>raise_exception('...')</c>. The server answers these with 400: the request (or the model's
/// template) is at fault, not the server.
/// </summary>
public sealed class TemplateException : Exception
{
    public TemplateException(string detail, int? line = null, string? templateName = null, bool raisedByTemplate = false, Exception? inner = null)
        : base(Format(detail, line, templateName, raisedByTemplate), inner)
    {
        Detail = detail;
        Line = line;
        TemplateName = templateName;
        RaisedByTemplate = raisedByTemplate;
    }

    /// <summary>The error without its location.</summary>
    public string Detail { get; }

    /// <summary>1-based line of the template where the error arose, when known.</summary>
    public int? Line { get; }

    public string? TemplateName { get; }

    /// <summary>True for the template's own <c>raise_exception</c>, whose message is meant for the
    /// client verbatim ("Conversation roles must alternate user/assistant/..."), so it carries no
    /// location prefix.</summary>
    public bool RaisedByTemplate { get; }

    /// <summary>This error, located at <paramref name="line"/> of <paramref name="templateName"/> unless
    /// it already knows where it happened.</summary>
    internal TemplateException AtLine(int line, string templateName) =>
        Line is not null ? this : new TemplateException(Detail, line, templateName, RaisedByTemplate, InnerException);

    private static string Format(string detail, int? line, string? templateName, bool raisedByTemplate) =>
        raisedByTemplate || line is null ? detail : $"{templateName ?? "template"} line {line}: {detail}";
}
