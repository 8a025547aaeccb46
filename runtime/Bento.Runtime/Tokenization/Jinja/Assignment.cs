namespace Bento.Runtime.Tokenization.Jinja;

/// <summary>Binding of one value to the targets of a for or set: one name takes the value, several
/// names unpack a list of that length.</summary>
internal static class Assignment
{
    public static void Unpack(VariableScope scope, IReadOnlyList<string> names, object? value)
    {
        if (names.Count == 1)
        {
            scope.Set(names[0], value);
            return;
        }
        var items = PythonValues.Iterate(value).ToList();
        if (items.Count != names.Count)
            throw new TemplateException($"cannot unpack {items.Count} values into {names.Count} names");
        for (var i = 0; i < names.Count; i++)
            scope.Set(names[i], items[i]);
    }
}
