namespace Bento.Runtime.Tokenization.Jinja;

internal enum SegmentKind
{
    /// <summary>Literal output.</summary>
    Text,
    /// <summary>The inside of <c>{{ ... }}</c>.</summary>
    Output,
    /// <summary>The inside of <c>{% ... %}</c>.</summary>
    Statement,
}

/// <summary>A piece of template source after whitespace control: literal text or a tag's contents.</summary>
/// <param name="Line">1-based line where the segment starts.</param>
internal sealed record TemplateSegment(SegmentKind Kind, string Content, int Line);
