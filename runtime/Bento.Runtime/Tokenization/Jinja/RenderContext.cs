using System.Text;

namespace Bento.Runtime.Tokenization.Jinja;

/// <summary>State of one render: where output goes, the current variable frame, and the template-level
/// frame macros see.</summary>
internal sealed class RenderContext
{
    /// <summary>Bounds macro recursion so a faulty template fails instead of overflowing the stack.</summary>
    public const int MaxCallDepth = 64;

    public RenderContext(VariableScope topScope, string templateName)
    {
        TopScope = topScope;
        Scope = topScope;
        TemplateName = templateName;
    }

    public StringBuilder Output { get; set; } = new();

    public VariableScope Scope { get; set; }

    /// <summary>The render variables plus top-level sets; macros run in a child of this frame.</summary>
    public VariableScope TopScope { get; }

    public string TemplateName { get; }

    public int CallDepth { get; set; }

    public object? Lookup(string name) => Scope.TryLookup(name, out var value) ? value : Undefined.Name(name);
}
