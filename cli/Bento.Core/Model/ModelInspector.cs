using System.Text.Json;

namespace Bento.Core.Model;

/// <summary>
/// Checks a Hugging Face model folder before anything is stored: config readable and supported, tokenizer present,
/// every weight file a well-formed safetensors, and every tensor's shape what config.json implies.
/// Reads only headers, so it costs milliseconds whatever the weights weigh.
/// </summary>
public static class ModelInspector
{
    public const string IndexFile = "model.safetensors.index.json";

    private static readonly (string Name, ModelFileRole Role)[] OptionalFiles =
    [
        ("generation_config.json", ModelFileRole.Metadata),
        ("tokenizer_config.json", ModelFileRole.Tokenizer),
        ("special_tokens_map.json", ModelFileRole.Tokenizer),
        ("chat_template.jinja", ModelFileRole.Tokenizer),
    ];

    public static async Task<ModelFolder> InspectAsync(string directory, CancellationToken ct = default)
    {
        var display = Spec.BentofileParser.DisplayPath(directory);
        if (!Directory.Exists(directory))
            throw new BentoException($"model folder '{display}' does not exist");

        var config = ModelConfig.Load(Path.Combine(directory, "config.json"));
        var files = new List<ModelFile> { File(directory, "config.json", ModelFileRole.Config) };

        var tokenizer = Path.Combine(directory, "tokenizer.json");
        CheckJson(tokenizer, "a Hugging Face model folder needs tokenizer.json (the runtime's tokenizer)", requireKey: "model", InputLimits.TokenizerJsonBytes).Dispose();
        files.Add(File(directory, "tokenizer.json", ModelFileRole.Tokenizer));
        foreach (var (name, role) in OptionalFiles)
        {
            var path = Path.Combine(directory, name);
            if (!System.IO.File.Exists(path)) continue;
            if (name.EndsWith(".json", StringComparison.Ordinal)) CheckJson(path, "", requireKey: null, InputLimits.ModelJsonBytes).Dispose();
            else IO.InputFile.RequireRegular(path);
            files.Add(File(directory, name, role));
        }

        var (weightNames, weightMap) = LocateWeights(directory);
        if (weightMap is not null) files.Add(File(directory, IndexFile, ModelFileRole.WeightIndex));

        var headers = await Task.WhenAll(weightNames.Select(n => SafetensorsHeader.ReadAsync(Path.Combine(directory, n), ct)));
        CheckTensors(directory, config, headers, weightMap);
        files.AddRange(weightNames.Select(n => File(directory, n, ModelFileRole.Weights)));
        return new ModelFolder(directory, config, files, TensorLayout.For(config).Parameters);
    }

    private static ModelFile File(string directory, string relative, ModelFileRole role)
    {
        var full = Path.Combine(directory, relative);
        return new ModelFile(relative, full, role);
    }

    private static (IReadOnlyList<string> Files, IReadOnlyDictionary<string, string>? WeightMap) LocateWeights(string directory)
    {
        var indexPath = Path.Combine(directory, IndexFile);
        if (System.IO.File.Exists(indexPath))
        {
            var map = ReadWeightMap(indexPath);
            return (map.Values.Distinct().Order(StringComparer.Ordinal).ToList(), map);
        }

        var shards = Directory.EnumerateFiles(directory, "*.safetensors").Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList();
        if (shards.Count == 0)
        {
            var other = Directory.EnumerateFiles(directory).Select(Path.GetFileName)
                .FirstOrDefault(n => n!.EndsWith(".bin", StringComparison.Ordinal) || n.EndsWith(".pt", StringComparison.Ordinal) || n.EndsWith(".gguf", StringComparison.Ordinal));
            throw new BentoException($"model folder '{Spec.BentofileParser.DisplayPath(directory)}' has no *.safetensors weights" +
                (other is null ? "" : $" ('{other}' is not supported: convert it to safetensors)"));
        }
        if (shards.Count > 1)
            throw new BentoException($"model folder '{Spec.BentofileParser.DisplayPath(directory)}' has {shards.Count} safetensors files but no {IndexFile} saying which tensor lives where");
        return (shards!, null);
    }

    /// <summary>
    /// Reads a sharded checkpoint's <c>weight_map</c> (tensor name to shard file). Every shard must be a plain file name
    /// in the index's own folder (never a path that could leave it) and must exist.
    /// </summary>
    public static IReadOnlyDictionary<string, string> ReadWeightMap(string indexPath)
    {
        var display = Spec.BentofileParser.DisplayPath(indexPath);
        var directory = Path.GetDirectoryName(Path.GetFullPath(indexPath))!;
        using var doc = CheckJson(indexPath, "", requireKey: "weight_map", InputLimits.ModelJsonBytes);
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var p in doc.RootElement.GetProperty("weight_map").EnumerateObject())
        {
            var file = p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString() : null;
            if (string.IsNullOrEmpty(file) || file.Contains('/') || file.Contains('\\') || file.StartsWith('.'))
                throw new BentoException($"{display}: weight_map entry '{p.Name}' must name a .safetensors file in the same folder");
            if (!System.IO.File.Exists(Path.Combine(directory, file)))
                throw new BentoException($"{display}: weight_map sends '{p.Name}' to '{file}', which does not exist");
            map[p.Name] = file;
        }
        if (map.Count == 0) throw new BentoException($"{display}: weight_map is empty");
        return map;
    }

    internal static void CheckTensors(string directory, ModelConfig config, SafetensorsHeader[] headers, IReadOnlyDictionary<string, string>? weightMap)
    {
        var layout = TensorLayout.For(config);
        var expected = layout.Required;
        var seen = new Dictionary<string, string>(StringComparer.Ordinal);
        var listed = new HashSet<string>(StringComparer.Ordinal);
        var configName = Spec.BentofileParser.DisplayPath(Path.Combine(directory, "config.json"));
        foreach (var header in headers)
        {
            var file = Path.GetFileName(header.FilePath);
            var display = Spec.BentofileParser.DisplayPath(header.FilePath);
            foreach (var t in header.Tensors)
            {
                if (weightMap is not null && (!weightMap.TryGetValue(t.Name, out var mapped) || mapped != file))
                    throw new BentoException($"{display}: tensor '{t.Name}' is here but {IndexFile} " +
                        (mapped is null ? "does not list it" : $"says it is in '{mapped}'"));
                listed.Add(t.Name);
                // Checked under the name the layout uses (a multimodal checkpoint nests the text model's names); the
                // parts the runtime does not serve (a vision tower) are not checked.
                if (config.Family.CanonicalTensorName(t.Name) is not { } name) continue;
                if (seen.TryGetValue(name, out var other))
                    throw new BentoException($"{display}: tensor '{t.Name}' also appears in {other}" + (name == t.Name ? "" : $" (both are '{name}')"));
                seen[name] = file;
                if (LlamaTensorLayout.IsIgnorable(name)) continue;
                if (!expected.TryGetValue(name, out var shape) && !layout.Optional.TryGetValue(name, out shape))
                    throw new BentoException($"{display}: unexpected tensor '{t.Name}' for {config.Architecture} with the settings in {configName}" +
                        (config.Quantization is { } q ? $" (quantization_config: {q.Describe()})" : ""));
                if (!shape.SequenceEqual(t.Shape))
                    throw new BentoException($"{display}: tensor '{t.Name}' has shape [{string.Join(", ", t.Shape)}] but {configName} implies [{string.Join(", ", shape)}] " +
                        $"(hidden_size={config.HiddenSize}, vocab_size={config.VocabSize}, num_attention_heads={config.NumAttentionHeads}, num_key_value_heads={config.NumKeyValueHeads}, head_dim={config.HeadDim}, intermediate_size={config.IntermediateSize})");
                if (layout.DtypeProblem(name, t.DType) is { } problem)
                    throw new BentoException($"{display}: {problem}");
            }
        }
        var missing = expected.Keys.Where(k => !seen.ContainsKey(k)).Order(StringComparer.Ordinal).ToList();
        if (missing.Count > 0)
            throw new BentoException($"model folder '{Spec.BentofileParser.DisplayPath(directory)}': {missing.Count} tensor(s) that {configName} implies are missing, e.g. '{missing[0]}'" +
                (config.Family.TensorPrefixes.Count > 0 ? $" (stored as {string.Join(" or ", config.Family.TensorPrefixes.Where(p => missing[0].StartsWith(p.Canonical, StringComparison.Ordinal)).Select(p => $"'{p.Stored}{missing[0][p.Canonical.Length..]}'"))})" : "") +
                (missing[0] == "lm_head.weight" ? " (set tie_word_embeddings: true if the model shares its embedding)" : ""));
        if (weightMap is not null)
        {
            var phantom = weightMap.Keys.FirstOrDefault(k => !listed.Contains(k));
            if (phantom is not null)
                throw new BentoException($"{Spec.BentofileParser.DisplayPath(Path.Combine(directory, IndexFile))}: lists '{phantom}' in '{weightMap[phantom]}', which does not hold it");
        }
    }

    private static JsonDocument CheckJson(string path, string missingHint, string? requireKey, InputLimit limit)
    {
        var display = Spec.BentofileParser.DisplayPath(path);
        if (!System.IO.File.Exists(path)) throw new BentoException($"{display}: missing; {missingHint}");
        JsonDocument doc;
        try { doc = JsonDocument.Parse(IO.InputFile.ReadAllBytes(path, limit, Path.GetFileName(path))); }
        catch (JsonException e)
        {
            throw new BentoException($"{display}:{(e.LineNumber ?? 0) + 1}:{(e.BytePositionInLine ?? 0) + 1}: invalid JSON");
        }
        if (requireKey is not null && (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty(requireKey, out var v) || v.ValueKind != JsonValueKind.Object))
        {
            doc.Dispose();
            throw new BentoException($"{display}: expected a JSON object with a '{requireKey}' object");
        }
        return doc;
    }
}
