namespace Bento.Runtime.Tokenization.Jinja;

/// <summary>
/// One frame of template variables. Lookups walk outwards; <c>set</c> writes to the innermost frame,
/// which is why a <c>set</c> inside a for loop does not survive the iteration (Jinja's rule, and the
/// reason templates use <c>namespace()</c>).
/// </summary>
internal sealed class VariableScope(VariableScope? parent)
{
    private readonly Dictionary<string, object?> _variables = new(StringComparer.Ordinal);

    public bool TryLookup(string name, out object? value)
    {
        for (var scope = this; scope is not null; scope = scope.Parent)
        {
            if (scope._variables.TryGetValue(name, out value))
                return true;
        }
        value = null;
        return false;
    }

    public void Set(string name, object? value) => _variables[name] = value;

    public VariableScope? Parent { get; } = parent;
}
