using Bento.Core.Manifest;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Bento.Core.Spec;

/// <summary>
/// Reads and validates <c>bentofile.yaml</c>. Every error names file, line and column, the key, and what is expected.
/// </summary>
public static class BentofileParser
{
    public const string FileName = "bentofile.yaml";

    private static readonly string[] TopKeys = ["name", "description", "labels", "include", "exclude", "envs", "model", "runtime", "docker"];
    private static readonly string[] RuntimeKeys = Serving.SettingName.Bentofile.Select(s => s.Key).ToArray();
    private static readonly string[] EagerKeys = ["value", "overridable", "env"];
    private static readonly string[] DockerKeys = ["base_image", "labels"];
    private static readonly string[] ModelKeys = ["path", "quantize"];
    private static readonly string[] EnvKeys = ["name", "value"];

    /// <summary>Finds the bentofile for a build argument: a directory holding bentofile.yaml, or the file itself.</summary>
    public static string Locate(string argument)
    {
        if (string.IsNullOrWhiteSpace(argument)) throw new UsageException("the folder to build is empty: give a folder holding bentofile.yaml (or '.')");
        if (argument.Contains('\0')) throw new UsageException("the folder to build contains a NUL character");
        var full = Path.GetFullPath(argument);
        if (File.Exists(full)) return full;
        if (Directory.Exists(full))
        {
            var candidate = Path.Combine(full, FileName);
            if (File.Exists(candidate)) return candidate;
            throw new BentoException($"{argument}: no {FileName} in this directory; create one with 'bento new NAME' or pass the file's path");
        }
        throw new BentoException($"{argument}: no such file or directory");
    }

    public static Bentofile Load(string path)
    {
        return Parse(IO.InputFile.ReadAllText(path, InputLimits.YamlBytes, FileName), path);
    }

    public static Bentofile Parse(string text, string path)
    {
        var display = DisplayPath(path);
        YamlBounds.Check(text, display);
        var stream = new YamlStream();
        try { stream.Load(new StringReader(text)); }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException)
        {
            // YamlDotNet fails this way (not with a YamlException) on a few malformed documents.
            throw new SpecException(display, Mark.Empty, "", "invalid YAML (check quotes, tabs, ':' in values and document markers)");
        }
        catch (YamlException e)
        {
            var reason = (e.InnerException?.Message ?? e.Message).Trim();
            reason = StripLocation(reason);
            throw new SpecException(display, e.Start, "", $"invalid YAML: {reason}");
        }
        if (stream.Documents.Count == 0 || YamlFields.IsNull(stream.Documents[0].RootNode))
            throw new SpecException(display, Mark.Empty, "", "the file is empty; expected a mapping with at least 'name' (see 'bento new')");
        if (stream.Documents.Count > 1)
            throw new SpecException(display, stream.Documents[1].RootNode.Start, "", "expected one YAML document, found several");
        if (stream.Documents[0].RootNode is not YamlMappingNode root)
            throw new SpecException(display, stream.Documents[0].RootNode, "", $"expected a mapping (key: value lines) at the top level, got {YamlFields.Describe(stream.Documents[0].RootNode)}");

        var top = new YamlFields(display, root, "");
        top.RejectUnknownKeys(TopKeys);
        var directory = Path.GetDirectoryName(Path.GetFullPath(path))!;

        var name = top.String("name") ?? DefaultName(directory);
        var nameProblem = BentoTag.ExplainInvalidName(name);
        if (nameProblem is not null)
        {
            if (top.Get("name") is null)
                throw new SpecException(display, root, "name", $"missing; the folder name '{name}' cannot serve as a default because it {nameProblem}");
            throw top.Fail("name", $"'{name}' {nameProblem}");
        }

        var (modelDirectory, quantize) = ParseModel(top, directory);
        return new Bentofile(
            Path.GetFullPath(path),
            name,
            Description(top),
            top.StringMap("labels", LabelProblem, InputLimits.LabelBytes),
            Patterns(top, "include") ?? ["**"],
            Patterns(top, "exclude") ?? [],
            ParseEnvs(top),
            modelDirectory,
            ParseRuntime(top),
            ParseDocker(top)) { Quantize = quantize };
    }

    private static IReadOnlyList<string>? Patterns(YamlFields top, string key)
    {
        var patterns = top.StringList(key);
        foreach (var pattern in patterns ?? [])
            if (Build.SourceSelector.PatternProblem(pattern) is { } problem) throw top.Fail(key, problem);
        return patterns;
    }

    private static IReadOnlyList<EnvVar> ParseEnvs(YamlFields top)
    {
        var node = top.Get("envs");
        var envs = new List<EnvVar>();
        switch (node)
        {
            case null:
                return envs;
            case YamlMappingNode:
                foreach (var (name, value) in top.StringMap("envs")) envs.Add(new EnvVar(name, value));
                break;
            case YamlSequenceNode seq:
                for (var i = 0; i < seq.Children.Count; i++)
                {
                    var itemPath = $"envs[{i}]";
                    if (seq.Children[i] is not YamlMappingNode item)
                        throw top.Fail(seq.Children[i], itemPath, $"expected a mapping with 'name' and 'value', got {YamlFields.Describe(seq.Children[i])}");
                    var fields = new YamlFields(top.DisplayFile, item, itemPath);
                    fields.RejectUnknownKeys(EnvKeys);
                    var envName = fields.String("name") ?? throw top.Fail(item, itemPath, "missing 'name'");
                    envs.Add(new EnvVar(envName, fields.String("value") ?? ""));
                }
                break;
            default:
                throw top.Fail("envs", $"expected a list of {{name, value}} or a mapping of NAME: value, got {YamlFields.Describe(node)}");
        }
        foreach (var env in envs)
            if (!BentoRules.IsEnvName(env.Name)) throw top.Fail("envs", BentoRules.EnvNameProblem(env.Name));
        var duplicate = envs.GroupBy(e => e.Name).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null) throw top.Fail("envs", $"'{duplicate.Key}' is set more than once");
        return envs;
    }

    private static (string Directory, Model.QuantizationScheme? Quantize) ParseModel(YamlFields top, string directory)
    {
        var node = top.Get("model");
        string relative;
        Model.QuantizationScheme? quantize = null;
        if (node is null) relative = ".";
        else if (node is YamlMappingNode)
        {
            var model = top.Mapping("model")!;
            model.RejectUnknownKeys(ModelKeys);
            relative = model.String("path") ?? ".";
            if (model.String("quantize") is { } scheme)
                quantize = Model.QuantizationScheme.Find(scheme)
                    ?? throw model.Fail("quantize", $"'{scheme}' is not a quantization BentoBuilder applies; {Model.QuantizationScheme.Choices}");
        }
        else relative = top.Scalar(node, "model", "the path of a Hugging Face model folder");

        if (relative.Any(char.IsControl))
            throw top.Fail("model", "the model folder's path contains a control character; give the folder's path as plain text");
        var full = Path.GetFullPath(Path.Combine(directory, relative));
        if (!Directory.Exists(full))
            throw top.Fail("model", $"the model folder '{relative}' does not exist (resolved to {full}); point 'model' at a folder with config.json and *.safetensors");
        return (full, quantize);
    }

    /// <summary>
    /// The <c>runtime:</c> section: each key a setting of the one table (<see cref="Serving.SettingName"/>) that a
    /// bentofile may set, judged by that setting's own rule, so the bentofile accepts exactly what the runtime does.
    /// </summary>
    private static RuntimeSpec ParseRuntime(YamlFields top)
    {
        var runtime = top.Mapping("runtime");
        if (runtime is null) return RuntimeSpec.Empty;
        runtime.RejectUnknownKeys(RuntimeKeys);

        var given = new Dictionary<Serving.SettingName, object>();
        foreach (var setting in Serving.SettingName.Bentofile)
        {
            if (setting == Serving.SettingName.EnforceEager || runtime.Get(setting.Key) is not { } node) continue;
            given[setting] = runtime.Setting(node, setting);
        }
        return new RuntimeSpec(ParseEnforceEager(runtime), given);
    }

    private static EnforceEagerSpec ParseEnforceEager(YamlFields runtime)
    {
        var node = runtime.Get("enforce_eager");
        if (node is null) return EnforceEagerSpec.Default;
        if (node is YamlScalarNode) return EnforceEagerSpec.Default with { Value = runtime.ParseEagerMode(node, runtime.KeyPath("enforce_eager")) };

        var eager = runtime.Mapping("enforce_eager")!;
        eager.RejectUnknownKeys(EagerKeys);
        var env = eager.String("env") ?? EnforceEagerSpec.DefaultEnv;
        if (!BentoRules.IsEnvName(env)) throw eager.Fail("env", BentoRules.EnvNameProblem(env));
        var value = eager.Get("value") is { } v ? eager.ParseEagerMode(v, eager.KeyPath("value")) : Serving.EagerMode.False;
        return new EnforceEagerSpec(value, eager.Bool("overridable") ?? true, env);
    }

    private static DockerSpec ParseDocker(YamlFields top)
    {
        var docker = top.Mapping("docker");
        if (docker is null) return new DockerSpec(null, new SortedDictionary<string, string>());
        docker.RejectUnknownKeys(DockerKeys);
        var baseImage = docker.String("base_image");
        if (baseImage is not null && BentoRules.BaseImageProblem(baseImage) is { } problem) throw docker.Fail("base_image", problem);
        return new DockerSpec(baseImage, docker.StringMap("labels", LabelProblem, InputLimits.LabelBytes));
    }

    private static string? LabelProblem(string value) => BentoRules.LabelValueProblem(value);

    /// <summary>The description is published like the labels; bounded so that build never makes a manifest import refuses.</summary>
    private static string? Description(YamlFields top)
    {
        var description = top.String("description");
        if (description is not null && BentoRules.DescriptionProblem(description) is { } problem) throw top.Fail("description", problem);
        return description;
    }

    private static string DefaultName(string directory) => Path.GetFileName(directory).ToLowerInvariant();

    /// <summary>Paths in messages: relative to the working directory when that is shorter.</summary>
    public static string DisplayPath(string path)
    {
        var full = Path.GetFullPath(path);
        var relative = Path.GetRelativePath(Environment.CurrentDirectory, full);
        return relative.StartsWith("..", StringComparison.Ordinal) ? full : relative;
    }

    private static string StripLocation(string message)
    {
        // YamlDotNet prefixes "(Line: 3, Col: 5, Idx: 20) - (Line: ...): " — we print our own location.
        var marker = message.IndexOf("): ", StringComparison.Ordinal);
        return message.StartsWith("(Line:", StringComparison.Ordinal) && marker > 0 ? message[(marker + 3)..] : message;
    }
}
