namespace Bento.Runtime.Tokenization.Jinja;

/// <summary>The <c>loop</c> variable inside a for block.</summary>
internal sealed class LoopState(IReadOnlyList<object?> items, int index0)
{
    public object? GetAttribute(string name) => name switch
    {
        "index" => (long)index0 + 1,
        "index0" => (long)index0,
        "revindex" => (long)(items.Count - index0),
        "revindex0" => (long)(items.Count - index0 - 1),
        "first" => index0 == 0,
        "last" => index0 == items.Count - 1,
        "length" => (long)items.Count,
        "depth" => 1L,
        "depth0" => 0L,
        "previtem" => index0 > 0 ? items[index0 - 1] : new Undefined("there is no previous item"),
        "nextitem" => index0 + 1 < items.Count ? items[index0 + 1] : new Undefined("there is no next item"),
        "cycle" => new NativeFunction("loop.cycle", (args, _) =>
            args.Positional.Count == 0
                ? throw new TemplateException("loop.cycle() needs at least one value")
                : args.Positional[index0 % args.Positional.Count]),
        _ => new Undefined($"the loop object has no attribute '{name}'"),
    };
}
