namespace Bento.Runtime.Tokenization.Jinja;

/// <summary>
/// Jinja's default undefined value: what an unknown variable, a missing key or a missing attribute
/// evaluates to. It prints as nothing, is false, iterates as empty and fails <c>is defined</c>; using it
/// further (an attribute of it, a call, arithmetic) is an error that reports why it was undefined.
/// </summary>
internal sealed class Undefined(string reason)
{
    /// <summary>Why it is undefined, e.g. "'tools' is undefined" or "'dict object' has no attribute 'x'".</summary>
    public string Reason { get; } = reason;

    public static Undefined Name(string name) => new($"'{name}' is undefined");

    public TemplateException Error() => new(Reason);

    public override string ToString() => "";
}
