using System.Text.Json.Nodes;
using Bento.Core.Build;
using Bento.Core.Model;
using Bento.Core.Spec;
using Bento.Core.Store;

namespace Bento.Core.Tests;

/// <summary>
/// Int8 weight quantization at build time (<c>model: {path: ., quantize: int8}</c>) and checkpoints that come
/// quantized in compressed-tensors' published layouts: what is accepted, what is written, what is refused.
/// </summary>
public class QuantizationTests : StoreTestBase
{
    private const string QuantizedBentofile = "name: fixture\nmodel: {path: ., quantize: int8}\n";

    [Theory]
    [InlineData("int8", "int8")]
    [InlineData("INT8", "int8")]
    [InlineData("int8-g128", "int8-g128")]
    public void The_bentofile_takes_the_schemes_of_the_table(string given, string expected)
    {
        var dir = Temp.CreateDirectory("p");
        var spec = BentofileParser.Parse($"name: x\nmodel: {{path: ., quantize: {given}}}\n", Path.Combine(dir, "bentofile.yaml"));
        Assert.Equal(expected, spec.Quantize?.Name);
        Assert.Null(BentofileParser.Parse("name: x\nmodel: {path: .}\n", Path.Combine(dir, "bentofile.yaml")).Quantize);
    }

    [Theory]
    [InlineData("int4")]
    [InlineData("fp8")]
    [InlineData("gptq")]
    public void Unknown_quantizations_are_refused_listing_what_is_supported(string scheme)
    {
        var dir = Temp.CreateDirectory("p");
        var e = Assert.Throws<SpecException>(() => BentofileParser.Parse($"name: x\nmodel:\n  path: .\n  quantize: {scheme}\n", Path.Combine(dir, "bentofile.yaml")));
        Assert.Contains("bentofile.yaml:4", e.Message);
        Assert.Contains("model.quantize", e.Message);
        Assert.Contains($"'{scheme}'", e.Message);
        Assert.Contains("supported: int8 (", e.Message);
        Assert.Contains("int8-g128", e.Message);
    }

    [Fact]
    public async Task Build_writes_int8_weights_and_records_the_format()
    {
        var dir = await ModelFixture.BuildDirectoryAsync(Temp, QuantizedBentofile);
        var result = await BuildAsync(dir);
        var m = result.Manifest;
        var q = Assert.IsType<Manifest.ManifestQuantization>(m.Model.Quantization);
        Assert.Equal(("int8", "compressed-tensors", "pack-quantized", 8, "channel", (int?)null, "bento build"),
            (q.Scheme, q.Method, q.Format, q.Bits, q.Strategy, q.GroupSize, q.QuantizedBy));

        var modelDir = Path.Combine(result.Bento.Directory, "model");
        // The bento's model folder passes the same checks a build makes: a bento that builds is one that serves.
        var folder = await ModelInspector.InspectAsync(modelDir);
        Assert.Equal(WeightQuantization.PackedFormat, folder.Config.Quantization!.Format);
        Assert.Equal(m.Model.Parameters, folder.Parameters);
        Assert.Equal((await ModelInspector.InspectAsync(dir)).Parameters, m.Model.Parameters);
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(modelDir, "config.json")))!;
        Assert.Equal("compressed-tensors", config["quantization_config"]!["quant_method"]!.GetValue<string>());
        Assert.Equal("float32", config["torch_dtype"]!.GetValue<string>()); // the original keys are kept

        // Every matrix (the embedding too) is int8; the norms are copied as they were.
        var source = Tensors(Path.Combine(dir, "model.safetensors"));
        var written = Tensors(Path.Combine(modelDir, "model.safetensors"));
        foreach (var (name, (dtype, shape, data)) in source)
        {
            if (shape.Length == 1)
            {
                Assert.Equal(data, written[name].Data);
                continue;
            }
            var stem = name[..^".weight".Length];
            Assert.False(written.ContainsKey(name), $"{name} should be quantized");
            Assert.Equal("I32", written[stem + ".weight_packed"].DType);
            Assert.Equal(new[] { shape[0], shape[1] / 4 }, written[stem + ".weight_packed"].Shape);
            Assert.Equal(new[] { shape[0], 1L }, written[stem + ".weight_scale"].Shape);
            Assert.Equal(new[] { shape[0], shape[1] }, Ints(written[stem + ".weight_shape"].Data));
            AssertRoundTrip(name, CompressedTensorsCheckpoint.ToFloats(data, dtype), written[stem + ".weight_packed"].Data,
                CompressedTensorsCheckpoint.ToFloats(written[stem + ".weight_scale"].Data, "F32"), (int)shape[1], (int)shape[1]);
        }
        var ratio = (double)new FileInfo(Path.Combine(modelDir, "model.safetensors")).Length / new FileInfo(Path.Combine(dir, "model.safetensors")).Length;
        Assert.InRange(ratio, 0.24, 0.30);

        // The model folder's own files are not copied into src/ (the bento carries the int8 ones instead).
        Assert.DoesNotContain(m.Files, f => f.Path.EndsWith(".safetensors", StringComparison.Ordinal) || f.Path == "config.json");
    }

    /// <summary>Each stored value is round(w / scale) with scale = max|w| / 127 per row (or group): within half a step.</summary>
    private static void AssertRoundTrip(string name, float[] original, byte[] packed, float[] scales, int columns, int groupSize)
    {
        var groups = columns / groupSize;
        for (var i = 0; i < original.Length; i++)
        {
            int row = i / columns, group = i % columns / groupSize;
            var scale = scales[row * groups + group];
            var max = original.Skip(row * columns + group * groupSize).Take(groupSize).Max(Math.Abs);
            Assert.Equal(max / 127f, scale);
            var value = (packed[i] - 128) * scale;
            Assert.True(Math.Abs(value - original[i]) <= scale / 2 * 1.0001, $"{name}[{i}]: {original[i]} stored as {value} (scale {scale})");
        }
    }

    /// <summary>
    /// Rows whose largest value is a tiny subnormal: max / 127 underflows to zero (row 0) or to one ulp (row 1, where
    /// w / scale would reach 190 and wrap past int8). Such rows are zero at int8 precision: scale 1, every value 0.
    /// </summary>
    [Fact]
    public async Task Rows_of_tiny_subnormals_quantize_to_zero_instead_of_wrapping()
    {
        var dir = await ModelFixture.BuildDirectoryAsync(Temp, QuantizedBentofile, "tiny");
        const string name = "model.layers.0.mlp.down_proj.weight";
        long columns = 0;
        RewriteTensors(dir, tensors => tensors.Select(t =>
        {
            if (t.Name != name) return t;
            Assert.Equal("F32", t.DType);
            columns = t.Shape[1];
            var data = (byte[])t.Data.Clone();
            for (var c = 0; c < columns; c++)
            {
                BitConverter.TryWriteBytes(data.AsSpan((int)(c * 4)), BitConverter.Int32BitsToSingle(1 + c % 60));                // row 0: <= 60 ulp
                BitConverter.TryWriteBytes(data.AsSpan((int)((columns + c) * 4)), -BitConverter.Int32BitsToSingle(100 + c % 90)); // row 1: up to 189 ulp
            }
            return t with { Data = data };
        }));
        var result = await BuildAsync(dir);
        var written = Tensors(Path.Combine(result.Bento.Directory, "model", "model.safetensors"));
        var stem = name[..^".weight".Length];
        var packed = written[stem + ".weight_packed"].Data;
        var scales = CompressedTensorsCheckpoint.ToFloats(written[stem + ".weight_scale"].Data, "F32");
        for (var row = 0; row < 2; row++)
        {
            Assert.Equal(1f, scales[row]);
            Assert.All(packed.Skip((int)(row * columns)).Take((int)columns), b => Assert.Equal(128, b));
        }
        Assert.True(float.IsNormal(scales[2]), "the other rows keep their max / 127");
    }

    [Fact]
    public async Task Quantized_builds_are_deterministic()
    {
        var a = await BuildAsync(await ModelFixture.BuildDirectoryAsync(Temp, QuantizedBentofile, "a"));
        var other = new BentoStore(Temp.Combine("store2"));
        var b = await new BentoBuilder(other).BuildAsync(Path.Combine(await ModelFixture.BuildDirectoryAsync(Temp, QuantizedBentofile, "b"), "bentofile.yaml"));
        Assert.Equal(a.Manifest.Version, b.Manifest.Version);
        Assert.Equal(a.Manifest.Model.Files.Select(f => (f.Path, f.Sha256)), b.Manifest.Model.Files.Select(f => (f.Path, f.Sha256)));
        var plain = await BuildAsync(await ModelFixture.BuildDirectoryAsync(Temp, "name: fixture\n", "c"));
        Assert.NotEqual(plain.Manifest.Version, a.Manifest.Version);
        Assert.Null(plain.Manifest.Model.Quantization);
        // Nothing of the work directory stays behind.
        Assert.Empty(Directory.EnumerateFileSystemEntries(Store.TempDirectory));
    }

    [Fact]
    public async Task A_rebuild_reuses_the_stored_int8_weights_and_hashes_nothing()
    {
        var dir = await ModelFixture.BuildDirectoryAsync(Temp, QuantizedBentofile);
        var first = await BuildAsync(dir);
        File.WriteAllText(Path.Combine(dir, "bentofile.yaml"), QuantizedBentofile + "description: edited\n");
        var messages = new List<string>();
        var second = await new BentoBuilder(Store, new Observer(messages)).BuildAsync(Path.Combine(dir, "bentofile.yaml"));
        Assert.Contains("reusing the int8 weights of an earlier build", messages);
        Assert.Equal(0, second.FilesHashed);
        Assert.Equal(first.Manifest.Model.Files.Select(f => (f.Path, f.Sha256)), second.Manifest.Model.Files.Select(f => (f.Path, f.Sha256)));
        Assert.NotEqual(first.Manifest.Version, second.Manifest.Version);

        // A blob edited in place is never reused: the weights are quantized again from the sources.
        var blob = Store.BlobPath(first.Manifest.Model.Files.Single(f => f.Path == "model.safetensors").Sha256);
        File.SetLastWriteTimeUtc(blob, DateTime.UtcNow.AddMinutes(-5));
        messages.Clear();
        File.WriteAllText(Path.Combine(dir, "bentofile.yaml"), QuantizedBentofile + "description: edited again\n");
        var third = await new BentoBuilder(Store, new Observer(messages)).BuildAsync(Path.Combine(dir, "bentofile.yaml"));
        Assert.DoesNotContain("reusing the int8 weights of an earlier build", messages);
        Assert.Contains("quantizing model.safetensors to int8", messages);
        Assert.Equal(first.Manifest.Model.Files.Select(f => (f.Path, f.Sha256)), third.Manifest.Model.Files.Select(f => (f.Path, f.Sha256)));

        // A changed source is a different key.
        File.SetLastWriteTimeUtc(Path.Combine(dir, "model.safetensors"), DateTime.UtcNow.AddMinutes(-1));
        messages.Clear();
        await new BentoBuilder(Store, new Observer(messages)).BuildAsync(Path.Combine(dir, "bentofile.yaml"));
        Assert.Contains("quantizing model.safetensors to int8", messages);
    }

    private sealed class Observer(List<string> messages) : IBuildObserver
    {
        public void Message(string text) => messages.Add(text);
    }

    [Fact]
    public async Task Sharded_checkpoints_are_quantized_with_a_rewritten_index()
    {
        var dir = await ModelFixture.BuildDirectoryAsync(Temp, QuantizedBentofile, sharded: true);
        var result = await BuildAsync(dir);
        var modelDir = Path.Combine(result.Bento.Directory, "model");
        var folder = await ModelInspector.InspectAsync(modelDir);
        Assert.Equal(2, folder.Weights.Count());
        var index = JsonNode.Parse(File.ReadAllText(Path.Combine(modelDir, ModelInspector.IndexFile)))!;
        var map = index["weight_map"]!.AsObject();
        Assert.Contains("model.layers.0.mlp.down_proj.weight_packed", map.Select(e => e.Key));
        Assert.DoesNotContain("model.layers.0.mlp.down_proj.weight", map.Select(e => e.Key));
        Assert.Equal(folder.Weights.Sum(w => Tensors(w.FullPath).Values.Sum(t => (long)t.Data.Length)), index["metadata"]!["total_size"]!.GetValue<long>());
    }

    [Fact]
    public async Task Group_scheme_keeps_a_scale_per_128_columns()
    {
        var dir = Temp.Combine("wide");
        await Bento.ModelGen.ModelFolderGenerator.GenerateAsync(dir, Bento.ModelGen.ModelPresets.Random(new Bento.ModelGen.RandomModelSpec
        {
            HiddenSize = 128, IntermediateSize = 256, Layers = 1, Heads = 4, KeyValueHeads = 2, MaxPositionEmbeddings = 64,
        }));
        File.WriteAllText(Path.Combine(dir, "bentofile.yaml"), "name: wide\nmodel: {path: ., quantize: int8-g128}\n");
        var result = await BuildAsync(dir);
        Assert.Equal(("group", (int?)128), (result.Manifest.Model.Quantization!.Strategy, result.Manifest.Model.Quantization.GroupSize));
        var written = Tensors(Path.Combine(result.Bento.Directory, "model", "model.safetensors"));
        var source = Tensors(Path.Combine(dir, "model.safetensors"));
        var down = source["model.layers.0.mlp.down_proj.weight"];
        Assert.Equal(new[] { 128L, 2L }, written["model.layers.0.mlp.down_proj.weight_scale"].Shape);
        AssertRoundTrip("down_proj", CompressedTensorsCheckpoint.ToFloats(down.Data, down.DType), written["model.layers.0.mlp.down_proj.weight_packed"].Data,
            CompressedTensorsCheckpoint.ToFloats(written["model.layers.0.mlp.down_proj.weight_scale"].Data, "F32"), 256, 128);
    }

    [Fact]
    public async Task Group_size_must_divide_every_matrix()
    {
        // hidden 64: a group of 128 columns cannot divide q_proj's 64 inputs; refused before anything is written.
        var dir = await ModelFixture.BuildDirectoryAsync(Temp, "name: fixture\nmodel: {path: ., quantize: int8-g128}\n");
        var e = await Assert.ThrowsAsync<BentoException>(() => BuildAsync(dir));
        Assert.Contains("group_size 128 does not divide the 64 columns", e.Message);
        Assert.Empty(StoreContents());
    }

    [Theory]
    [InlineData("pack-quantized", null)]
    [InlineData("int-quantized", 32)]
    public async Task Published_compressed_tensors_checkpoints_build_as_they_are(string format, int? groupSize)
    {
        var dense = await ModelFixture.CopyToAsync(Temp.Combine("dense"));
        var dir = Temp.Combine("project");
        CompressedTensorsCheckpoint.Write(dense, dir, format, groupSize);
        File.WriteAllText(Path.Combine(dir, "bentofile.yaml"), "name: published\n");
        var result = await BuildAsync(dir);
        var q = result.Manifest.Model.Quantization!;
        Assert.Equal((null, format, groupSize is null ? "channel" : "group", groupSize, "checkpoint"), (q.Scheme, q.Format, q.Strategy, q.GroupSize, q.QuantizedBy));
        Assert.Equal((await ModelInspector.InspectAsync(dense)).Parameters, result.Manifest.Model.Parameters);

        // Quantizing it again is refused, naming what it already is; the store is untouched.
        File.WriteAllText(Path.Combine(dir, "bentofile.yaml"), "name: again\nmodel: {path: ., quantize: int8}\n");
        var before = StoreContents();
        var e = await Assert.ThrowsAsync<BentoException>(() => BuildAsync(dir));
        Assert.Contains("already quantized", e.Message);
        Assert.Contains($"compressed-tensors {format}", e.Message);
        Assert.Equal(before, StoreContents());
    }

    public static TheoryData<string, string, string> BadConfigs() => new()
    {
        { "num_bits", """{"num_bits": 4}""", "config_groups.group_0.weights.num_bits: 4 is not supported (8 only)" },
        { "symmetric", """{"symmetric": false}""", "weights.symmetric: asymmetric weights are not supported" },
        { "strategy", """{"strategy": "tensor"}""", "weights.strategy: 'tensor' is not supported (supported: channel, group)" },
        { "type", """{"type": "float"}""", "weights.type: 'float' is not supported (int only)" },
        { "actorder", """{"actorder": "group", "strategy": "group", "group_size": 32}""", "weights.actorder: activation-ordered groups" },
        { "num_bits type", """{"num_bits": "8"}""", "weights.num_bits: expected an integer, got string" },
    };

    [Theory]
    [MemberData(nameof(BadConfigs))]
    public async Task Unsupported_quantization_configs_are_refused_naming_the_key(string what, string weights, string message)
    {
        _ = what;
        var dir = await PublishedAsync(config =>
        {
            var w = config["quantization_config"]!["config_groups"]!["group_0"]!["weights"]!.AsObject();
            foreach (var (key, value) in JsonNode.Parse(weights)!.AsObject()) w[key] = value?.DeepClone();
        });
        var e = await Assert.ThrowsAsync<BentoException>(() => ModelInspector.InspectAsync(dir));
        Assert.Contains("config.json: quantization_config.", e.Message);
        Assert.Contains(message, e.Message);
    }

    [Theory]
    [InlineData("quant_method", "\"gptq\"", "quantization_config.quant_method: 'gptq' is not supported; the runtime serves compressed-tensors int8 weight-only (W8A16)")]
    [InlineData("format", "\"marlin-24\"", "quantization_config.format: 'marlin-24' is not supported (supported: pack-quantized, int-quantized, naive-quantized)")]
    [InlineData("kv_cache_scheme", "{\"num_bits\": 8}", "quantization_config.kv_cache_scheme: is set")]
    [InlineData("quantization_status", "\"frozen\"", "quantization_config.quantization_status: 'frozen'")]
    public async Task Unsupported_methods_and_formats_are_refused(string key, string value, string message)
    {
        var dir = await PublishedAsync(config => config["quantization_config"]![key] = JsonNode.Parse(value));
        var e = await Assert.ThrowsAsync<BentoException>(() => ModelInspector.InspectAsync(dir));
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public async Task Activation_quantization_is_refused()
    {
        var dir = await PublishedAsync(config => config["quantization_config"]!["config_groups"]!["group_0"]!["input_activations"] =
            JsonNode.Parse("""{"num_bits": 8, "type": "int", "strategy": "token", "dynamic": true}"""));
        var e = await Assert.ThrowsAsync<BentoException>(() => ModelInspector.InspectAsync(dir));
        Assert.Contains("config_groups.group_0.input_activations: activation quantization is not supported", e.Message);
    }

    [Fact]
    public async Task Tensors_that_do_not_match_the_quantization_config_are_refused()
    {
        // A dense checkpoint that claims to be quantized.
        var dense = await ModelFixture.CopyToAsync(Temp.Combine("dense"));
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(dense, "config.json")))!;
        config["quantization_config"] = QuantizationScheme.Int8.ToConfig().ToJson();
        File.WriteAllText(Path.Combine(dense, "config.json"), config.ToJsonString());
        var e = await Assert.ThrowsAsync<BentoException>(() => ModelInspector.InspectAsync(dense));
        Assert.Contains("unexpected tensor 'lm_head.weight'", e.Message);
        Assert.Contains("quantization_config: int8 per-channel (compressed-tensors pack-quantized)", e.Message);

        // A packed checkpoint whose words are not int32, and one missing a scale.
        var dir = await PublishedAsync(_ => { });
        RewriteTensors(dir, tensors => tensors.Select(t => t.Name == "model.layers.0.self_attn.q_proj.weight_packed" ? t with { DType = "F32" } : t));
        e = await Assert.ThrowsAsync<BentoException>(() => ModelInspector.InspectAsync(dir));
        Assert.Contains("tensor 'model.layers.0.self_attn.q_proj.weight_packed' is F32; the runtime loads it as I32", e.Message);

        dir = await PublishedAsync(_ => { }, "missing");
        RewriteTensors(dir, tensors => tensors.Where(t => t.Name != "model.layers.1.mlp.up_proj.weight_scale"));
        e = await Assert.ThrowsAsync<BentoException>(() => ModelInspector.InspectAsync(dir));
        Assert.Contains("'model.layers.1.mlp.up_proj.weight_scale'", e.Message);
        Assert.Contains("missing", e.Message);
    }

    private async Task<string> PublishedAsync(Action<JsonNode> editConfig, string name = "published")
    {
        var dense = await ModelFixture.CopyToAsync(Temp.Combine(name + "-dense"));
        var dir = Temp.Combine(name);
        CompressedTensorsCheckpoint.Write(dense, dir);
        var configPath = Path.Combine(dir, "config.json");
        var config = JsonNode.Parse(File.ReadAllText(configPath))!;
        editConfig(config);
        File.WriteAllText(configPath, config.ToJsonString());
        return dir;
    }

    private static void RewriteTensors(string dir, Func<IEnumerable<(string Name, string DType, long[] Shape, byte[] Data)>, IEnumerable<(string Name, string DType, long[] Shape, byte[] Data)>> edit)
    {
        var path = Path.Combine(dir, "model.safetensors");
        var tensors = edit(CompressedTensorsCheckpoint.Read(path).ToList()).ToList();
        var header = new JsonObject();
        long offset = 0;
        foreach (var t in tensors)
        {
            header[t.Name] = new JsonObject { ["dtype"] = t.DType, ["shape"] = new JsonArray(t.Shape.Select(d => (JsonNode)d).ToArray()), ["data_offsets"] = new JsonArray(offset, offset + t.Data.Length) };
            offset += t.Data.Length;
        }
        var json = System.Text.Encoding.UTF8.GetBytes(header.ToJsonString());
        using var file = File.Create(path);
        file.Write(BitConverter.GetBytes((ulong)json.Length));
        file.Write(json);
        foreach (var t in tensors) file.Write(t.Data);
    }

    private static Dictionary<string, (string DType, long[] Shape, byte[] Data)> Tensors(string path) =>
        CompressedTensorsCheckpoint.Read(path).ToDictionary(t => t.Name, t => (t.DType, t.Shape, t.Data));

    private static long[] Ints(byte[] data) => data.Length == 8
        ? [BitConverter.ToInt32(data, 0), BitConverter.ToInt32(data, 4)]
        : [BitConverter.ToInt64(data, 0), BitConverter.ToInt64(data, 8)];

    [Fact]
    public async Task A_hostile_pattern_in_targets_costs_linear_time_and_a_bad_one_is_named()
    {
        var dir = await PublishedAsync(config => config["quantization_config"]!["ignore"] = new JsonArray("lm_head", "re:(a+)+$", "re:(x*)*y"));
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await ModelInspector.InspectAsync(dir);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"took {clock.Elapsed}");

        dir = await PublishedAsync(config => config["quantization_config"]!["ignore"] = new JsonArray("re:(unclosed"), "bad");
        var e = await Assert.ThrowsAsync<BentoException>(() => ModelInspector.InspectAsync(dir));
        Assert.Contains("quantization_config: 're:(unclosed' is not a regular expression", e.Message);
    }

    [Fact]
    public void The_scheme_table_writes_what_the_parser_reads()
    {
        foreach (var scheme in QuantizationScheme.All)
        {
            var json = scheme.ToConfig().ToJson().ToJsonString();
            using var doc = System.Text.Json.JsonDocument.Parse(json);
            var parsed = WeightQuantization.Parse(doc.RootElement, "config.json");
            Assert.Equal((scheme.Strategy, scheme.GroupSize, "pack-quantized"), (parsed.Strategy, parsed.GroupSize, parsed.Format));
            Assert.True(parsed.Quantizes("model.embed_tokens", isEmbedding: true));
            Assert.True(parsed.Quantizes("lm_head", isEmbedding: false));
        }
        var published = new WeightQuantization("pack-quantized", "channel", null, ["Linear"], ["lm_head", "re:.*layers\\.1\\..*"]);
        Assert.True(published.Quantizes("model.layers.0.mlp.up_proj", false));
        Assert.False(published.Quantizes("lm_head", false));
        Assert.False(published.Quantizes("model.layers.1.mlp.up_proj", false));
        Assert.False(published.Quantizes("model.embed_tokens", true));
    }
}
