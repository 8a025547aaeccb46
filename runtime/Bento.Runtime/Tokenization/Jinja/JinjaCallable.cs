namespace Bento.Runtime.Tokenization.Jinja;

/// <summary>Anything a template can call: global functions, bound methods such as
/// <c>text.strip</c>, and macros.</summary>
internal abstract class JinjaCallable(string name)
{
    public string Name { get; } = name;

    public abstract object? Invoke(CallArguments arguments, RenderContext context);
}

/// <summary>A callable implemented in C#.</summary>
internal sealed class NativeFunction(string name, Func<CallArguments, RenderContext, object?> body) : JinjaCallable(name)
{
    public override object? Invoke(CallArguments arguments, RenderContext context) => body(arguments, context);
}
