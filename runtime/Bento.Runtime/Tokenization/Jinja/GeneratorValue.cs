namespace Bento.Runtime.Tokenization.Jinja;

/// <summary>
/// What Jinja's select, reject, selectattr, rejectattr, map, unique and reverse return: a Python
/// generator, not a list. The difference shows in templates: a generator is true even when it would
/// yield nothing (so <c>{% if messages | selectattr('role', 'equalto', 'system') %}</c> always holds under
/// transformers), has no length, and prints as an object. Templates normally finish with <c>| list</c>,
/// <c>| first</c>, <c>| join</c> or a for loop, which all see the items.
/// </summary>
/// <remarks>Unlike a Python generator it can be iterated more than once; templates that iterate one
/// twice would get nothing the second time under Python, which no working template relies on.</remarks>
internal sealed class GeneratorValue(IReadOnlyList<object?> items, string kind)
{
    public IReadOnlyList<object?> Items { get; } = items;

    /// <summary>The Python object it stands for, e.g. "generator" or "list_reverseiterator".</summary>
    public string Kind { get; } = kind;

    public override string ToString() => $"<{Kind} object>";
}
