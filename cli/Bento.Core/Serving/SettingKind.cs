using System.Globalization;

namespace Bento.Core.Serving;

/// <summary>
/// What values one setting takes: how its text (a variable, a flag, a bentofile scalar, a deploy <c>--env</c>) becomes
/// a typed value, the range a typed value must lie in, and the words every error about it ends with. Each setting of
/// <see cref="SettingName"/> names its kind, so a value is judged by the same rule wherever it is given.
/// </summary>
public abstract class SettingKind<T>
{
    /// <summary>What is accepted, ending an error message, e.g. "use a whole number from 1 to 65535".</summary>
    public abstract string Accepts { get; }

    /// <summary>The type as the README's settings table shows it, e.g. "integer 1..65535".</summary>
    public abstract string TypeName { get; }

    /// <summary>
    /// The value the text spells, or false with why not, phrased to follow the quoted text ("is not an integer",
    /// "is out of range"). Leading and trailing whitespace is ignored.
    /// </summary>
    public abstract bool TryParse(string text, out T value, out string reason);

    /// <summary>Whether a typed value (from a manifest, or a flag built in code) lies in range.</summary>
    public virtual bool Allows(T value) => true;

    /// <summary>The value as logs, /health and messages print it.</summary>
    public virtual string Format(T value) => value switch
    {
        bool b => b ? "true" : "false",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value?.ToString() ?? "",
    };
}

/// <summary>A whole number in [<paramref name="min"/>, <paramref name="max"/>], optionally of a unit ("seconds").</summary>
public sealed class IntKind(int min, int max, string? unit = null) : SettingKind<int>
{
    public int Min => min;
    public int Max => max;

    public override string Accepts => max == int.MaxValue
        ? $"use a whole number{Unit} of at least {min}"
        : $"use a whole number{Unit} from {min} to {max}";

    public override string TypeName => max == int.MaxValue ? $"integer >= {min}" : $"integer {min}..{max}";

    private string Unit => unit is null ? "" : " of " + unit;

    public override bool TryParse(string text, out int value, out string reason)
    {
        var trimmed = text.Trim();
        if (!int.TryParse(trimmed, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out value))
        {
            // Digits that overflow an int are a range mistake, not a typo; say so.
            var digits = trimmed.TrimStart('+', '-');
            reason = digits.Length > 0 && digits.All(char.IsAsciiDigit) ? "is out of range" : "is not an integer";
            return false;
        }
        reason = "is out of range";
        return Allows(value);
    }

    public override bool Allows(int value) => value >= min && value <= max;
}

/// <summary>A finite number greater than <paramref name="exclusiveMin"/> and at most <paramref name="max"/>.</summary>
public sealed class FractionKind(double exclusiveMin, double max, string example) : SettingKind<double>
{
    public override string Accepts => $"use a number greater than {Show(exclusiveMin)} and at most {Show(max)}, e.g. {example}";

    public override string TypeName => $"number in ({Show(exclusiveMin)}, {Show(max)}]";

    public override bool TryParse(string text, out double value, out string reason)
    {
        // Invariant culture: "0,9" is a typo here whatever the host's locale; NaN and infinities are not settings.
        if (!double.TryParse(text.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out value) || !double.IsFinite(value))
        {
            reason = "is not a number";
            return false;
        }
        reason = "is out of range";
        return Allows(value);
    }

    public override bool Allows(double value) => value > exclusiveMin && value <= max;

    private static string Show(double d) => d.ToString(CultureInfo.InvariantCulture);
}

/// <summary>A boolean in the spellings shells, YAML and Docker users reach for (<see cref="BoolSetting"/>).</summary>
public sealed class BoolKind : SettingKind<bool>
{
    public override string Accepts => "use true/false, 1/0, yes/no or on/off";
    public override string TypeName => "boolean";

    public override bool TryParse(string text, out bool value, out string reason)
    {
        reason = "is not a boolean";
        var parsed = BoolSetting.TryParse(text);
        value = parsed ?? false;
        return parsed is not null;
    }
}

/// <summary>A dtype from the one dtype table (<see cref="Model.ModelDtype"/>); the value is the canonical name.</summary>
public sealed class DtypeKind : SettingKind<string>
{
    public override string Accepts => Model.ModelDtype.Choices;
    public override string TypeName => string.Join(", ", Model.ModelDtype.All.Select(d => d.Name).Prepend(Model.ModelDtype.Auto));

    public override bool TryParse(string text, out string value, out string reason)
    {
        reason = "is not a dtype";
        value = Model.ModelDtype.CanonicalSetting(text) ?? "";
        return value.Length > 0;
    }

    public override bool Allows(string value) => Model.ModelDtype.CanonicalSetting(value) == value;
}

/// <summary>
/// An address or host name to listen on. Only what is certainly wrong (empty, inner whitespace) is refused; whether
/// the address can be bound is for Kestrel to say when it binds.
/// </summary>
public sealed class HostKind : SettingKind<string>
{
    public override string Accepts => "use an address or host name such as 0.0.0.0, :: or 127.0.0.1";
    public override string TypeName => "address";

    public override bool TryParse(string text, out string value, out string reason)
    {
        reason = "is not a host";
        value = text.Trim();
        return Allows(value);
    }

    public override bool Allows(string value) => value.Length > 0 && !value.Any(char.IsWhiteSpace);
}

/// <summary>A positive memory size as operators write it (<see cref="ByteSize"/>): 4GiB, 512MiB, 80GB or bytes.</summary>
public sealed class SizeKind : SettingKind<long>
{
    public override string Accepts => "use a size such as 4GiB, 512MiB or a number of bytes";
    public override string TypeName => "size";

    public override bool TryParse(string text, out long value, out string reason)
    {
        reason = "is not a memory size";
        return ByteSize.TryParse(text, out value) && Allows(value);
    }

    public override bool Allows(long value) => value > 0;

    public override string Format(long value) => ByteSize.Format(value);
}

/// <summary>One word of a fixed list (case-insensitive; the list's spelling is kept).</summary>
public sealed class ChoiceKind(IReadOnlyList<string> words, string noun) : SettingKind<string>
{
    public override string Accepts => $"use {string.Join(", ", words.Take(words.Count - 1))} or {words[^1]}";
    public override string TypeName => string.Join(", ", words);

    public override bool TryParse(string text, out string value, out string reason)
    {
        reason = $"is not {noun}";
        value = words.FirstOrDefault(w => string.Equals(w, text.Trim(), StringComparison.OrdinalIgnoreCase)) ?? "";
        return value.Length > 0;
    }

    public override bool Allows(string value) => words.Contains(value);
}

/// <summary>Free text (a key, a path): taken as given, apart from surrounding whitespace; its reader judges it.</summary>
public sealed class TextKind(string accepts, string typeName) : SettingKind<string>
{
    public override string Accepts => accepts;
    public override string TypeName => typeName;

    public override bool TryParse(string text, out string value, out string reason)
    {
        reason = "is empty";
        value = text.Trim();
        return true;
    }
}
