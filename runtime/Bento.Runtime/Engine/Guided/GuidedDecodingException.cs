namespace Bento.Runtime.Engine.Guided;

/// <summary>A constraint we cannot compile (a bad or unsupported schema, regex or choice): a 400 naming the field.</summary>
public sealed class GuidedDecodingException(string message, string param) : Exception(message)
{
    public string Param { get; } = param;
}
