namespace Bento.Runtime.Tokenization.Jinja;

/// <summary>
/// The object <c>namespace(...)</c> makes. Jinja's <c>set</c> inside a loop only changes a variable for
/// that iteration, so templates that need to carry state out of a loop keep it on a namespace and write
/// <c>{% set ns.found = true %}</c>.
/// </summary>
internal sealed class JinjaNamespace
{
    public Dictionary<string, object?> Attributes { get; } = new(StringComparer.Ordinal);
}
