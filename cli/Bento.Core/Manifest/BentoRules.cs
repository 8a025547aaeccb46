using System.Text;
using System.Text.RegularExpressions;
using Bento.Core.IO;
using Bento.Core.Model;
using Bento.Core.Serving;
using Bento.Core.Spec;

namespace Bento.Core.Manifest;

/// <summary>
/// The one rule for what a valid bento is. Every reader of a bento.yaml applies it (<see cref="ManifestSerializer"/>:
/// the store, <c>bento import</c>, pulls and the runtime at start-up), the build runs its own manifest through that
/// reader before storing it, and the bentofile parser takes its rules from here, so nothing builds that import or
/// serve would refuse. Runtime settings are judged by their entries in <see cref="SettingName"/> (the one settings
/// table); model-folder rules (config.json, tensor shapes) live in <see cref="ModelContract"/>.
/// </summary>
public static partial class BentoRules
{
    /// <summary>Files every bento's model/ must hold: what the runtime opens before anything else.</summary>
    public static readonly string[] RequiredModelFiles = ["config.json", "tokenizer.json"];

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]*$")]
    private static partial Regex EnvNamePattern();

    /// <summary>Names an environment variable can have (POSIX portable names).</summary>
    public static bool IsEnvName(string name) => EnvNamePattern().IsMatch(name);

    public static string EnvNameProblem(string name) =>
        $"'{name}' is not a valid environment variable name (letters, digits and '_', not starting with a digit)";

    /// <summary>Why <paramref name="baseImage"/> cannot be a base image reference; null when it can.</summary>
    public static string? BaseImageProblem(string baseImage)
    {
        if (baseImage.Length == 0 || baseImage.Any(c => char.IsWhiteSpace(c) || char.IsControl(c)))
            return $"expected an image reference such as 'mcr.microsoft.com/dotnet/runtime-deps:10.0', got '{baseImage}'";
        // A URL or USER:PASSWORD@HOST/... would put credentials into bento.yaml (and every export of it): refuse it
        // without repeating it. ('@' followed by a '/' is never a digest: digests have no '/'.)
        var at = baseImage.IndexOf('@');
        if (baseImage.Contains("://", StringComparison.Ordinal) || (at >= 0 && baseImage.IndexOf('/', at) >= 0))
            return "expected an image reference such as 'mcr.microsoft.com/dotnet/runtime-deps:10.0', not a URL or a reference " +
                   "carrying credentials (USER:PASSWORD@); save credentials with 'bento login REGISTRY' instead";
        return null;
    }

    /// <summary>
    /// Labels are published in bento.yaml, its exports and image labels: a URL carrying USER:TOKEN@ (a git remote
    /// copied with its token, say) is refused without repeating it.
    /// </summary>
    public static string? LabelValueProblem(string value) => UrlCredentials.Present(value)
        ? "this URL carries credentials (USER:TOKEN@ after the scheme), which would be published with the bento and its images; write it without them"
        : null;

    /// <summary>Why a description is refused; null when it is fine.</summary>
    public static string? DescriptionProblem(string description) =>
        Encoding.UTF8.GetByteCount(description) is var bytes && bytes > InputLimits.DescriptionBytes.Value
            ? $"{InputLimits.Bytes(bytes)} ({bytes} bytes) exceeds the {InputLimits.DescriptionBytes.Size} limit; " +
              $"shorten it or ship the text as a file under include ({InputLimits.DescriptionBytes.RaiseHint})"
            : null;

    /// <summary>Why a label key or value is too long; null when it is fine.</summary>
    public static string? LabelSizeProblem(string what, string text) =>
        Encoding.UTF8.GetByteCount(text) is var bytes && bytes > InputLimits.LabelBytes.Value
            ? $"the {what} is {InputLimits.Bytes(bytes)} ({bytes} bytes), over the {InputLimits.LabelBytes.Size} limit; shorten it ({InputLimits.LabelBytes.RaiseHint})"
            : null;

    /// <summary>Throws a <see cref="BentoException"/> naming <paramref name="source"/> and the field for the first rule broken.</summary>
    public static void Check(BentoManifest manifest, string source)
    {
        void Require(bool ok, string field, string problem)
        {
            if (!ok) throw new BentoException($"{source}: {field}: {problem}");
        }

        // A hand-written or damaged manifest may say `labels:` (null) or `files: [~]`: refuse, never dereference.
        Require(manifest.Name is not null, "name", "missing");
        Require(manifest.Version is not null, "version", "missing");
        Require(manifest.Labels is not null && manifest.Labels.Values.All(v => v is not null), "labels", "expected a mapping of strings");
        Require(manifest.Envs is not null && manifest.Envs.All(e => e is { Name: not null, Value: not null }), "envs", "expected a list of {name, value}");
        Require(manifest.Model is not null, "model", "missing");
        Require(manifest.Model!.Architecture is not null && manifest.Model.Path is not null, "model", "expected architecture and path");
        Require(manifest.Model.Files is not null && manifest.Model.Files.All(f => f is { Path: not null, Sha256: not null }), "model.files", "expected a list of {path, size, sha256}");
        Require(manifest.Files is not null && manifest.Files.All(f => f is { Path: not null, Sha256: not null }), "files", "expected a list of {path, size, sha256}");
        Require(manifest.Runtime is { EnforceEager: not null }, "runtime", "expected a mapping with enforce_eager");
        Require(manifest.Docker is not null && manifest.Docker.Labels is not null && manifest.Docker.Labels.Values.All(v => v is not null), "docker", "expected a mapping with labels");
        Require(manifest.Build is not null, "build", "missing");

        if (BentoTag.ExplainInvalidName(manifest.Name!) is { } nameProblem) throw new BentoException($"{source}: name '{manifest.Name}' {nameProblem}");
        if (BentoTag.ExplainInvalidName(manifest.Version) is { } versionProblem) throw new BentoException($"{source}: version '{manifest.Version}' {versionProblem}");
        if (manifest.Description is { } description && DescriptionProblem(description) is { } descriptionProblem)
            throw new BentoException($"{source}: description: {descriptionProblem}");
        CheckLabels(manifest.Labels, "labels", source);
        CheckLabels(manifest.Docker.Labels, "docker.labels", source);

        var envNames = new HashSet<string>(StringComparer.Ordinal);
        foreach (var env in manifest.Envs)
        {
            Require(IsEnvName(env.Name), "envs", EnvNameProblem(env.Name));
            Require(envNames.Add(env.Name), "envs", $"'{env.Name}' is set more than once");
        }

        var model = manifest.Model;
        Require(model.Architecture.Length > 0, "model.architecture", "missing");
        Require(model.Parameters >= 0, "model.parameters", $"must not be negative, got {model.Parameters}");
        Require(model.MaxPositionEmbeddings is >= 0 and <= ModelContract.MaxContextLength, "model.max_position_embeddings",
            $"must be from 1 to {ModelContract.MaxContextLength}, got {model.MaxPositionEmbeddings}");
        Require(model.TorchDtype is null || ModelDtype.Find(model.TorchDtype) is not null, "model.torch_dtype",
            $"'{model.TorchDtype}' is not a dtype the runtime computes in; {ModelDtype.Choices}");
        Require(model.Path == BentoManifest.ModelDirectory, "model.path", $"must be '{BentoManifest.ModelDirectory}', got '{model.Path}'");
        foreach (var required in RequiredModelFiles)
            Require(model.Files.Any(f => f.Path == required), "model.files", $"no {required}; a bento's model needs it");
        Require(model.Files.Any(f => f.Path.EndsWith(".safetensors", StringComparison.Ordinal)), "model.files", "no *.safetensors weights");

        // Each runtime setting by its own rule in the one settings table (what the bentofile parser and the runtime
        // apply), then what only the manifest can tell: max_model_len within the model's context.
        var runtime = manifest.Runtime;
        foreach (var setting in SettingName.Bentofile.Where(s => s != SettingName.EnforceEager))
            if (setting.ReadManifestBoxed(runtime) is { } value && !setting.AllowsBoxed(value))
                throw new BentoException($"{source}: runtime.{setting.Key}: '{setting.Format(value)}' is not allowed; {setting.Accepts}");
        var contextBound = model.MaxPositionEmbeddings > 0 ? model.MaxPositionEmbeddings : ModelContract.MaxContextLength;
        Require(runtime.MaxModelLen >= 0 && runtime.MaxModelLen <= contextBound, "runtime.max_model_len",
            $"must be from 1 to {contextBound} (the model's max_position_embeddings), got {runtime.MaxModelLen}");
        Require(string.IsNullOrWhiteSpace(runtime.EnforceEager.Env) || IsEnvName(runtime.EnforceEager.Env), "runtime.enforce_eager.env",
            EnvNameProblem(runtime.EnforceEager.Env));

        if (manifest.Docker.BaseImage is { } baseImage && BaseImageProblem(baseImage) is { } imageProblem)
            throw new BentoException($"{source}: docker.base_image: {imageProblem}");

        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (bentoPath, file) in manifest.AllFiles())
        {
            if (!SafeRelativePath.IsSafe(file.Path))
                throw new BentoException($"{source}: file path '{file.Path}' is not a plain relative path");
            if (file.Sha256.Length != 64 || !file.Sha256.All(char.IsAsciiHexDigitLower))
                throw new BentoException($"{source}: '{file.Path}' has a malformed sha256 '{file.Sha256}'");
            if (file.Size < 0) throw new BentoException($"{source}: '{file.Path}' has a negative size");
            if (!seen.Add(bentoPath)) throw new BentoException($"{source}: '{bentoPath}' is listed twice");
        }
    }

    private static void CheckLabels(IReadOnlyDictionary<string, string> labels, string field, string source)
    {
        foreach (var (key, value) in labels)
        {
            var shown = key.Length > 64 ? key[..64] + "..." : key;
            var problem = LabelSizeProblem("key", key) ?? LabelSizeProblem("value", value) ?? LabelValueProblem(value);
            if (problem is not null)
                throw new BentoException($"{source}: {field}.{shown}: {problem}");
        }
    }
}
