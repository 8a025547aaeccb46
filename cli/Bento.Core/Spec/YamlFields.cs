using System.Globalization;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Bento.Core.Spec;

/// <summary>
/// Typed, located access to a YAML mapping: every read either returns a well-typed value or throws a
/// <see cref="SpecException"/> pointing at the offending node. Keeps the bentofile parser free of plumbing.
/// </summary>
internal sealed class YamlFields
{
    private readonly string _file;
    private readonly YamlMappingNode _map;
    private readonly string _path;

    public YamlFields(string file, YamlMappingNode map, string path)
    {
        (_file, _map, _path) = (file, map, path);
    }

    public YamlMappingNode Node => _map;

    public string DisplayFile => _file;

    public string KeyPath(string key) => _path.Length == 0 ? key : $"{_path}.{key}";

    /// <summary>Rejects keys outside <paramref name="allowed"/>, with a "did you mean" hint.</summary>
    public void RejectUnknownKeys(IReadOnlyCollection<string> allowed)
    {
        foreach (var (keyNode, _) in _map.Children)
        {
            var key = Scalar(keyNode, _path, "a key");
            if (allowed.Contains(key)) continue;
            var hint = Suggest.Closest(key, allowed);
            var where = _path.Length == 0 ? "at the top level" : $"under '{_path}'";
            throw new SpecException(_file, keyNode, KeyPath(key),
                $"unknown key {where}" + (hint is null ? "" : $"; did you mean '{hint}'?") +
                $" (allowed: {string.Join(", ", allowed)})");
        }
    }

    public YamlNode? Get(string key)
    {
        foreach (var (k, v) in _map.Children)
            if (k is YamlScalarNode s && s.Value == key) return IsNull(v) ? null : v;
        return null;
    }

    public Mark MarkOf(string key)
    {
        foreach (var (k, _) in _map.Children)
            if (k is YamlScalarNode s && s.Value == key) return k.Start;
        return _map.Start;
    }

    public string? String(string key)
    {
        var node = Get(key);
        return node is null ? null : Scalar(node, KeyPath(key), "a string");
    }

    public bool? Bool(string key)
    {
        var node = Get(key);
        return node is null ? null : ParseBool(node, KeyPath(key));
    }

    public int? Int(string key, int min, int max)
    {
        var node = Get(key);
        if (node is null) return null;
        var text = PlainScalar(node, KeyPath(key), $"an integer from {min} to {max}");
        if (!int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value) || value < min || value > max)
            throw Fail(node, KeyPath(key), $"expected an integer from {min} to {max}, got '{text}'");
        return value;
    }

    public double? Double(string key, double minExclusive, double maxInclusive)
    {
        var node = Get(key);
        if (node is null) return null;
        var expectation = $"a number greater than {minExclusive} and at most {maxInclusive}";
        var text = PlainScalar(node, KeyPath(key), expectation);
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) ||
            double.IsNaN(value) || value <= minExclusive || value > maxInclusive)
            throw Fail(node, KeyPath(key), $"expected {expectation}, got '{text}'");
        return value;
    }

    /// <summary>
    /// A setting's value, judged by the setting's own rule (<see cref="Serving.SettingName"/>): the error reads as the
    /// runtime's does for a variable or flag ("'70000' is out of range; use a whole number from 1 to 65535").
    /// </summary>
    public object Setting(YamlNode node, Serving.SettingName setting)
    {
        var keyPath = KeyPath(setting.Key);
        // A quoted number or boolean is a string in YAML; taking it anyway would hide a templating mistake.
        var text = setting.TakesText ? Scalar(node, keyPath, "a string") : PlainScalar(node, keyPath, setting.TypeName);
        return setting.TryParseBoxed(text, out var value, out var reason)
            ? value
            : throw Fail(node, keyPath, $"'{text}' {reason}; {setting.Accepts}");
    }

    public YamlFields? Mapping(string key)
    {
        var node = Get(key);
        if (node is null) return null;
        if (node is not YamlMappingNode map) throw Fail(node, KeyPath(key), $"expected a mapping (key: value lines), got {Describe(node)}");
        return new YamlFields(_file, map, KeyPath(key));
    }

    /// <summary>A mapping of string to string (labels); values may be any scalar and are kept as written.</summary>
    /// <param name="problem">Checks each value: null when it is fine, else what is wrong (the error points at the value).</param>
    /// <param name="limit">The most UTF-8 bytes a key or a value may have, if bounded.</param>
    public IReadOnlyDictionary<string, string> StringMap(string key, Func<string, string?>? problem = null, InputLimit? limit = null)
    {
        var result = new SortedDictionary<string, string>(StringComparer.Ordinal);
        var map = Mapping(key);
        if (map is null) return result;
        foreach (var (k, v) in map.Node.Children)
        {
            var name = Scalar(k, map._path, "a string key");
            CheckSize(k, map.KeyPath(name.Length > 64 ? name[..64] + "..." : name), "key", name, limit);
            var value = Scalar(v, map.KeyPath(name), "a string value");
            CheckSize(v, map.KeyPath(name), "value", value, limit);
            if (problem?.Invoke(value) is { } message) throw Fail(v, map.KeyPath(name), message);
            result[name] = value;
        }
        return result;
    }

    private void CheckSize(YamlNode node, string keyPath, string what, string text, InputLimit? limit)
    {
        if (limit is not { } bound) return;
        var bytes = System.Text.Encoding.UTF8.GetByteCount(text);
        if (bytes > bound.Value)
            throw Fail(node, keyPath, $"the {what} is {InputLimits.Bytes(bytes)} ({bytes} bytes), over the {bound.Size} limit; shorten it ({bound.RaiseHint})");
    }

    /// <summary>A list of strings; a single string is accepted as a one-element list.</summary>
    public IReadOnlyList<string>? StringList(string key)
    {
        var node = Get(key);
        if (node is null) return null;
        if (node is YamlScalarNode) return [Scalar(node, KeyPath(key), "a string")];
        if (node is not YamlSequenceNode seq) throw Fail(node, KeyPath(key), $"expected a list of strings, got {Describe(node)}");
        return seq.Children.Select((item, i) => Scalar(item, $"{KeyPath(key)}[{i}]", "a string")).ToList();
    }

    public string Scalar(YamlNode node, string keyPath, string expected)
    {
        if (node is not YamlScalarNode scalar) throw Fail(node, keyPath, $"expected {expected}, got {Describe(node)}");
        return scalar.Value ?? "";
    }

    private string PlainScalar(YamlNode node, string keyPath, string expected)
    {
        var text = Scalar(node, keyPath, expected);
        if (((YamlScalarNode)node).Style is ScalarStyle.SingleQuoted or ScalarStyle.DoubleQuoted)
            throw Fail(node, keyPath, $"expected {expected}, got the quoted string \"{text}\" (remove the quotes)");
        return text;
    }

    public bool ParseBool(YamlNode node, string keyPath)
    {
        // The spellings every boolean setting takes (a variable, a flag, a deploy --env), so a bentofile is no stricter.
        var text = PlainScalar(node, keyPath, "true or false");
        return Serving.BoolSetting.TryParse(text) ?? throw Fail(node, keyPath, $"expected true or false, got '{text}'");
    }

    /// <summary>enforce_eager's value: a boolean or auto (see <see cref="Serving.EagerMode"/>).</summary>
    public Serving.EagerMode ParseEagerMode(YamlNode node, string keyPath)
    {
        // The spellings the variable and the flag take (EagerModes), so a bentofile is no stricter.
        var text = PlainScalar(node, keyPath, "true, false or auto");
        return Serving.EagerModes.TryParse(text) ?? throw Fail(node, keyPath, $"expected true, false or auto, got '{text}'");
    }

    public SpecException Fail(YamlNode node, string keyPath, string message) => new(_file, node, keyPath, message);

    public SpecException Fail(string key, string message) => new(_file, Get(key)?.Start ?? MarkOf(key), KeyPath(key), message);

    public static bool IsNull(YamlNode node) =>
        node is YamlScalarNode { Style: ScalarStyle.Plain, Value: null or "" or "~" or "null" or "Null" or "NULL" };

    public static string Describe(YamlNode node) => node switch
    {
        YamlMappingNode => "a mapping",
        YamlSequenceNode => "a list",
        YamlScalarNode s => $"'{s.Value}'",
        _ => "something else",
    };
}
