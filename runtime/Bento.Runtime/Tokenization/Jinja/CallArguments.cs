namespace Bento.Runtime.Tokenization.Jinja;

/// <summary>Evaluated arguments of a call, filter or test, positional and keyword, as Python passes them.</summary>
internal sealed class CallArguments(IReadOnlyList<object?> positional, IReadOnlyDictionary<string, object?> keyword)
{
    public static readonly CallArguments None = new([], new Dictionary<string, object?>());

    public IReadOnlyList<object?> Positional { get; } = positional;

    public IReadOnlyDictionary<string, object?> Keyword { get; } = keyword;

    /// <summary>The parameter at <paramref name="position"/> or named <paramref name="name"/>, else
    /// <paramref name="fallback"/>.</summary>
    public object? Get(int position, string name, object? fallback = null) =>
        position < Positional.Count ? Positional[position]
        : Keyword.TryGetValue(name, out var value) ? value
        : fallback;

    public bool Has(int position, string name) => position < Positional.Count || Keyword.ContainsKey(name);
}
