using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using Bento.Core.Model;
using Bento.ModelGen;
using Bento.Runtime.Engine;
using Bento.Runtime.Model;
using Bento.Runtime.Tokenization;

// Paged KV cache benchmark of the engine (scheduler + eager runner, no HTTP), side by side in one process:
//  1. Prefix caching: a request with a 1,000-token system prompt (cold) and then a second request with the same system
//     prompt and another question: time to first token of the second / of the first (target <= 0.25). A third request
//     with a fresh system prompt checks the first was not slow for another reason (warm-up).
//  2. Concurrency at equal KV memory (max_model_len 2048, the KV memory of 8 slots = 1024 blocks): N conversations of
//     prompt + generated = 256 tokens submitted at once to today's admission (every sequence reserves max_model_len:
//     8 run at once, the rest wait) and to admission by real tokens (max_num_seqs N): how many ran at once, 503s,
//     preemptions, aggregate generated tokens/s (target: N >= 3 x 8 at once, no 503, tokens/s not lower).
// Rounds alternate the configurations so that a busy machine slows both alike; the table reports medians.
//   bento-paged-bench [--work DIR] [--threads 2] [--rounds 3] [--conversations 24] [--prompt 128] [--generate 128]
//                     [--system 1000] [--question 24] [--max-model-len 2048] [--slots 8]
CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
var opts = Args.Parse(args);
var work = Path.GetFullPath(opts.Get("work", ".build/decode-bench"));
var threads = opts.Int("threads", 2);
var rounds = opts.Int("rounds", 3);
var conversations = opts.Int("conversations", 24);
var promptTokens = opts.Int("prompt", 128);
var generateTokens = opts.Int("generate", 128);
var systemTokens = opts.Int("system", 1000);
var questionTokens = opts.Int("question", 24);
var maxModelLen = opts.Int("max-model-len", 2048);
var slots = opts.Int("slots", 8);
// prefix, concurrency (default both) and steps (decode step time by batch size).
var parts = opts.Get("parts", "prefix,concurrency").Split(',');
// The KV memory of the slots: in blocks of 16 tokens (paged), or the slots themselves (baseline).

// The model of bench/decode-bench.sh (same folder, generated once).
var spec = new RandomModelSpec
{
    HiddenSize = 768, Layers = 16, IntermediateSize = 2048, Heads = 12, KeyValueHeads = 4,
    MaxPositionEmbeddings = 2048, TorchDtype = "float32",
};
var modelDir = Path.Combine(work, $"llama-h{spec.HiddenSize}-l{spec.Layers}-i{spec.IntermediateSize}-kv{spec.KeyValueHeads}");
if (!File.Exists(Path.Combine(modelDir, "model.safetensors")))
{
    Log($"generating {modelDir}");
    await ModelFolderGenerator.GenerateAsync(modelDir, ModelPresets.Random(spec));
}
var config = ModelConfig.Load(modelDir);
var tokenizer = HfTokenizer.Load(modelDir);
var kvBlocks = slots * maxModelLen / Bento.Core.Serving.MemoryPlanner.BlockSize;
TorchSharp.torch.set_num_threads(threads);
#if BASELINE
// Built from another revision's runtime (bench/paged-bench.sh --baseline REV): its slot cache, 8 slots of max_model_len.
const string Code = "baseline";
using var runner = EagerModelRunner.Open(modelDir, new EagerRunnerOptions { Slots = slots, MaxSequenceLength = maxModelLen, Threads = threads });
parts = ["concurrency"];
var admissions = new[] { "today" };
#else
const string Code = "this";
using var runner = EagerModelRunner.Open(modelDir, new EagerRunnerOptions { Slots = 0, KvBlocks = kvBlocks, MaxSequenceLength = maxModelLen, Threads = threads });
var admissions = opts.Get("admission", "today,paged").Split(',');
#endif
Log($"runner: {runner.Info}");

var loadBefore = File.ReadAllText("/proc/loadavg").Split(' ')[0];
var (busy0, _) = CpuJiffies();
var self0 = Process.GetCurrentProcess().TotalProcessorTime;
var wall = Stopwatch.StartNew();
var results = new Dictionary<string, List<double>>();
void Record(string key, double value) => (results.TryGetValue(key, out var l) ? l : results[key] = []).Add(value);

var warm = new LlmEngine(runner, tokenizer, new EngineOptions { MaxNumSeqs = 4, MaxModelLen = maxModelLen });
await Generate(warm, Tokens(64, 999), 8);
warm.Dispose();

if (parts.Contains("steps"))
{
    // Decode step time by batch size, contexts of about prompt + generate / 2 tokens: how one step's cost grows with rows.
    foreach (var batch in new[] { 1, 8, 16, 24, 32 })
    {
        var (ms, tps) = StepTime(batch, promptTokens + generateTokens / 2, 32);
        Record($"steps.{batch}", ms);
        Log($"decode steps at batch {batch}: {ms:F1} ms/step, {tps:F1} tokens/s");
    }
}

for (var round = 0; round < rounds; round++)
{
    if (parts.Contains("prefix")) await PrefixRound(round);
    if (parts.Contains("concurrency"))
        foreach (var admission in round % 2 == 0 ? admissions : admissions.Reverse())
            await ConcurrencyRound(round, admission == "today");
}

var (busy1, _) = CpuJiffies();
var selfCpu = (Process.GetCurrentProcess().TotalProcessorTime - self0).TotalSeconds;
var othersShare = Math.Max(0, (busy1 - busy0) / 100.0 - selfCpu) / (wall.Elapsed.TotalSeconds * Environment.ProcessorCount);
var loadAfter = File.ReadAllText("/proc/loadavg").Split(' ')[0];
double Median(string key) { var l = results[key].Order().ToList(); return l.Count % 2 == 1 ? l[l.Count / 2] : (l[l.Count / 2 - 1] + l[l.Count / 2]) / 2; }
string All(string key, string format) => string.Join(", ", results[key].Select(v => v.ToString(format)));
string Ms(string key) => string.Join(", ", results[key].Select(v => (v * 1000).ToString("F0")));
var cpu = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name"))?.Split(':', 2)[1].Trim() ?? "unknown CPU";

Console.WriteLine();
Console.WriteLine($"## Paged KV cache benchmark ({DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC)");
Console.WriteLine();
Console.WriteLine($"Machine: {cpu}, {Environment.ProcessorCount} cores visible, {RuntimeInformation.OSDescription}; {threads} threads; " +
                  $"{rounds} alternating rounds; 1-minute load average {loadBefore} before, {loadAfter} after; other processes used " +
                  $"{othersShare:P0} of the machine's CPU time during the run.");
Console.WriteLine($"Model: the decode benchmark's generated Llama (hidden 768, 16 layers, 12 heads / 4 kv heads, {config.VocabSize} vocab, 101.5M parameters, fp32); " +
                  $"KV cache {kvBlocks * Bento.Core.Serving.MemoryPlanner.BlockSize} tokens ({runner.Info.KvCacheBytes / (1 << 20)} MiB), the memory of {slots} slots of max_model_len {maxModelLen}; " +
                  $"runtime code: {Code}.");
Console.WriteLine();
if (parts.Contains("prefix"))
{
    Console.WriteLine($"Prefix caching: {systemTokens}-token system prompt + {questionTokens}-token question, greedy, time to first token (ms); each round uses a new system prompt.");
    Console.WriteLine();
    Console.WriteLine("| request | TTFT median, ms | rounds, ms (ratio: per round) |");
    Console.WriteLine("| --- | ---: | --- |");
    Console.WriteLine($"| 1st: system prompt not cached | {Median("ttft.cold") * 1000:F0} | {Ms("ttft.cold")} |");
    Console.WriteLine($"| 2nd: same system prompt, other question | {Median("ttft.warm") * 1000:F0} | {Ms("ttft.warm")} |");
    Console.WriteLine($"| control: a new system prompt | {Median("ttft.control") * 1000:F0} | {Ms("ttft.control")} |");
    Console.WriteLine($"| **2nd / 1st** (target <= 0.25) | **{Median("ttft.ratio"):F3}** | {All("ttft.ratio", "F3")} |");
    Console.WriteLine($"| prefix-cache hits of the 2nd request, tokens | {Median("hits"):F0} | |");
    Console.WriteLine();
}
if (parts.Contains("steps"))
{
    Console.WriteLine($"Decode steps by batch size (contexts of {promptTokens + generateTokens / 2} tokens, 32 steps each):");
    Console.WriteLine();
    Console.WriteLine("| rows per step | ms per step | tokens/s |");
    Console.WriteLine("| ---: | ---: | ---: |");
    foreach (var batch in new[] { 1, 8, 16, 24, 32 })
        Console.WriteLine($"| {batch} | {results[$"steps.{batch}"][0]:F1} | {batch * 1000 / results[$"steps.{batch}"][0]:F1} |");
    Console.WriteLine();
}
if (parts.Contains("concurrency"))
{
    Console.WriteLine($"Concurrency at equal KV memory: {conversations} conversations of {promptTokens} prompt + {generateTokens} generated tokens, submitted at once, greedy.");
    Console.WriteLine();
    Console.WriteLine($"| admission | max_num_seqs | ran at once (max) | 503s | preemptions | aggregate tokens/s (median) | rounds | wall s (median) |");
    Console.WriteLine("| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: |");
    foreach (var (key, label, seqs) in new[] { ("today", $"today: every sequence reserves max_model_len ({slots} slots)", slots), ("paged", "paged: by real tokens", conversations) })
        if (results.ContainsKey($"{key}.tps"))
            Console.WriteLine($"| {label} | {seqs} | {results[$"{key}.running"].Max():F0} | {results[$"{key}.refused"].Sum():F0} | {results[$"{key}.preemptions"].Sum():F0} | " +
                          $"{Median($"{key}.tps"):F1} | {All($"{key}.tps", "F1")} | {Median($"{key}.wall"):F1} |");
    if (results.ContainsKey("paged.tps") && results.ContainsKey("today.tps"))
        Console.WriteLine($"| **paged / today** | | **{results["paged.running"].Max() / results["today.running"].Max():F1}x** | | | **{Median("paged.tps") / Median("today.tps"):F2}x** | | |");
}
return 0;

async Task PrefixRound(int round)
{
    var observer = new Hits();
    var system = Tokens(systemTokens, 100 + round);
    using var counted = new LlmEngine(runner, tokenizer, new EngineOptions { MaxNumSeqs = 4, MaxModelLen = maxModelLen }, observer);
    var cold = await Generate(counted, [.. system, .. Tokens(questionTokens, 200 + round)], 1);
    var hitsBefore = observer.Total;
    var warmTtft = await Generate(counted, [.. system, .. Tokens(questionTokens, 300 + round)], 1);
    var hits = observer.Total - hitsBefore;
    var control = await Generate(counted, [.. Tokens(systemTokens, 400 + round), .. Tokens(questionTokens, 500 + round)], 1);
    Record("ttft.cold", cold);
    Record("ttft.warm", warmTtft);
    Record("ttft.control", control);
    Record("ttft.ratio", warmTtft / cold);
    Record("hits", hits);
    Log($"prefix round {round}: cold {cold * 1000:F0} ms, cached {warmTtft * 1000:F0} ms ({hits} tokens hit), control {control * 1000:F0} ms");
}

async Task ConcurrencyRound(int round, bool today)
{
    var key = today ? "today" : "paged";
    var observer = new Hits();
    using var engine = new LlmEngine(runner, tokenizer, new EngineOptions { MaxNumSeqs = today ? slots : conversations, MaxModelLen = maxModelLen }, observer);
    var refused = 0;
    var maxRunning = 0;
    using var stop = new CancellationTokenSource();
    var poller = Task.Run(async () =>
    {
        while (!stop.IsCancellationRequested)
        {
            maxRunning = Math.Max(maxRunning, engine.Stats.Running);
            await Task.Delay(2);
        }
    });
    var sw = Stopwatch.StartNew();
    var tasks = new List<Task<double>>();
    for (var c = 0; c < conversations; c++)
    {
        try { tasks.Add(Generate(engine, Tokens(promptTokens, 1000 * (round + 1) + c), generateTokens)); }
        catch (EngineOverloadedException) { refused++; }
    }
    await Task.WhenAll(tasks);
    var seconds = sw.Elapsed.TotalSeconds;
    await stop.CancelAsync();
    await poller;
    var tps = (double)tasks.Count * generateTokens / seconds;
    Record($"{key}.tps", tps);
    Record($"{key}.wall", seconds);
    Record($"{key}.running", maxRunning);
    Record($"{key}.refused", refused);
#if BASELINE
    const long preemptions = 0;                                   // the slot cache never preempts
#else
    var preemptions = engine.Stats.Preemptions;
#endif
    Record($"{key}.preemptions", preemptions);
    Log($"{key} round {round}: {tasks.Count} conversations in {seconds:F1} s = {tps:F1} tok/s, at most {maxRunning} at once, {refused} refused, {preemptions} preemptions");
}

/// <summary>Prefills <paramref name="batch"/> sequences of <paramref name="context"/> tokens through paged block tables,
/// then times <paramref name="steps"/> decode steps of all of them together.</summary>
(double Ms, double TokensPerSecond) StepTime(int batch, int context, int steps)
{
#if BASELINE
    throw new NotSupportedException("step timing needs block tables");
#else
    var perSequence = (context + steps + 15) / 16;
    var tables = Enumerable.Range(0, batch).Select(b => Enumerable.Range(b * perSequence, perSequence).ToArray()).ToArray();
    for (var b = 0; b < batch; b++) runner.Step([StepInput.Paged(tables[b], 0, Tokens(context, 7000 + b))]);
    var sw = Stopwatch.StartNew();
    for (var i = 0; i < steps; i++)
        runner.Step(Enumerable.Range(0, batch).Select(b => StepInput.Paged(tables[b], context + i, new[] { 5 + b })).ToList());
    var seconds = sw.Elapsed.TotalSeconds;
    return (seconds * 1000 / steps, batch * steps / seconds);
#endif
}

/// <summary>Runs one greedy request to its end; returns its time to first token in seconds.</summary>
static async Task<double> Generate(LlmEngine engine, int[] prompt, int tokens)
{
    var sw = Stopwatch.StartNew();
    var reader = engine.Submit(new GenerationRequest(Guid.NewGuid().ToString("N"), prompt,
        new SamplingParams { MaxTokens = tokens, Temperature = 0, IgnoreEos = true }), CancellationToken.None);
    double? first = null;
    var count = 0;
    await foreach (var e in reader.ReadAllAsync())
    {
        if (e is TokenGenerated) { first ??= sw.Elapsed.TotalSeconds; count++; }
        else if (e is GenerationFinished f && f.Reason != FinishReason.Length) throw new InvalidOperationException($"finished with {f.Reason}");
    }
    if (count != tokens) throw new InvalidOperationException($"{count} tokens, expected {tokens}");
    return first!.Value;
}

static int[] Tokens(int count, int seed)
{
    var rng = new Random(seed);
    return Enumerable.Range(0, count).Select(_ => rng.Next(3, 500)).ToArray();
}

static (long Busy, long Total) CpuJiffies()
{
    var f = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Select(long.Parse).ToArray();
    var idle = f[3] + f[4];
    var total = f.Take(8).Sum();
    return (total - idle, total);
}

static void Log(string message) => Console.Error.WriteLine($"[{DateTime.Now:HH:mm:ss}] {message}");

sealed class Hits : IEngineObserver
{
    private long _total;
    public long Total => Interlocked.Read(ref _total);
    public void PrefixCacheQueried(int queried, int hits) => Interlocked.Add(ref _total, hits);
}
