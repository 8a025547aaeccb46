using Bento.Core.Model;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using Bento.ModelGen;
using Bento.Runtime.Model;
using LLama;
using LLama.Common;
using LLama.Native;

// Decode benchmark, side by side in one process: our eager TorchSharp runner (weights memory-mapped, and weights
// copied) vs llama.cpp (LLamaSharp 0.30) on the same generated fp32 Llama (safetensors for us, an F32 GGUF for
// llama.cpp), all with the same thread count, measured in alternating rounds. `--profile 1` instead splits our
// batch-1 decode step into matrix multiplies and the rest (wall and main-thread CPU time).
//   bento-decode-bench [--work DIR] [--threads N] [--hidden 768] [--layers 16] [--intermediate 2048] [--heads 12]
//                      [--kv-heads 4] [--decode-tokens 128] [--prompt 512] [--rounds 3]
CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
// `serve`: the bf16/int8 serving benchmark through `bento serve` (ServeBench.cs).
if (args.Length > 0 && args[0] == "serve") return await ServeBench.RunAsync(args[1..]);
var opts = Args.Parse(args);
var work = Path.GetFullPath(opts.Get("work", ".build/decode-bench"));
var threads = opts.Int("threads", 2);
var decodeTokens = opts.Int("decode-tokens", 64);
var promptTokens = opts.Int("prompt", 512);
var rounds = opts.Int("rounds", 7);
var spec = new RandomModelSpec
{
    HiddenSize = opts.Int("hidden", 768),
    Layers = opts.Int("layers", 16),
    IntermediateSize = opts.Int("intermediate", 2048),
    Heads = opts.Int("heads", 12),
    KeyValueHeads = opts.Int("kv-heads", 4),
    MaxPositionEmbeddings = 2048,
    TorchDtype = "float32",
};

var modelDir = Path.Combine(work, $"llama-h{spec.HiddenSize}-l{spec.Layers}-i{spec.IntermediateSize}-kv{spec.KeyValueHeads}");
var gguf = Path.Combine(modelDir, "model-f32.gguf");
if (!File.Exists(Path.Combine(modelDir, "model.safetensors")))
{
    Log($"generating {modelDir}");
    await ModelFolderGenerator.GenerateAsync(modelDir, ModelPresets.Random(spec));
}
if (!File.Exists(gguf) || File.GetLastWriteTimeUtc(gguf) < File.GetLastWriteTimeUtc(Path.Combine(modelDir, "model.safetensors")))
{
    Log("writing the F32 GGUF");
    LlamaGgufExporter.Export(modelDir, gguf + ".tmp", GgmlType.F32);
    File.Move(gguf + ".tmp", gguf, overwrite: true);
}
var config = ModelConfig.Load(modelDir);
var parameters = CountParameters(config);
Log($"model: {parameters / 1e6:F1}M parameters, {new FileInfo(Path.Combine(modelDir, "model.safetensors")).Length / 1e6:F0} MB fp32");
foreach (var f in new[] { Path.Combine(modelDir, "model.safetensors"), gguf }) Log($"page cache: {PageCache.ReadAfresh(f)}");

var loadBefore = File.ReadAllText("/proc/loadavg").Split(' ')[0];
var rng = new Random(1);
var prompt = Enumerable.Range(0, promptTokens).Select(_ => rng.Next(0, 500)).ToArray();
var shortPrompt = prompt[..16];
var results = new Dictionary<string, List<double>>();
void Record(string key, double value) => (results.TryGetValue(key, out var l) ? l : results[key] = []).Add(value);

if (opts.Int("prefill", 0) == 1)
{
    // --prefill 1 --model DIR: time to first token of the runner alone for short and long prompts, and the widening
    // of one weight matrix, the part of a prefill that is not GEMM when the weights are not float32.
    PrefillBench(opts.Get("model", modelDir), threads);
    return 0;
}
if (opts.Int("kernels", 0) == 1)
{
    KernelBench(opts.Int("threads", 2), opts.Int("rows", 1), opts.Int("out", 8192), opts.Int("in", 2048));
    return 0;
}
if (opts.Int("profile", 0) == 1)
{
    // --model DIR profiles another model folder (e.g. a bf16 or int8 one) instead of the generated fp32 model.
    Profile(opts.Get("model", modelDir), threads, opts.Int("copy", 0) == 1);
    return 0;
}
TorchSharp.torch.set_num_threads(threads);
using (TorchSharp.torch.ones(4).sum()) { } // LibTorch loaded before the memory baseline
var (anon0, file0) = (Status("RssAnon:"), Status("RssFile:"));
// Both engines stay loaded and are measured in alternating short windows, so a busy machine (other processes on the
// same two cores) slows both alike; the table reports medians over the rounds.
using var ours = EagerModelRunner.Open(modelDir, new EagerRunnerOptions { Slots = 8, MaxSequenceLength = 1024, Threads = threads });
Log($"ours: {ours.Info}");
Ours(ours, "ours", warmup: true);
var (oursAnon, oursFile) = (Status("RssAnon:") - anon0, Status("RssFile:") - file0);
(anon0, file0) = (Status("RssAnon:"), Status("RssFile:"));
using var copied = EagerModelRunner.Open(modelDir, new EagerRunnerOptions { Slots = 8, MaxSequenceLength = 1024, Threads = threads, CopyWeights = true });
Ours(copied, "copied", warmup: true);
var (copiedAnon, copiedFile) = (Status("RssAnon:") - anon0, Status("RssFile:") - file0);
(anon0, file0) = (Status("RssAnon:"), Status("RssFile:"));
using var llama = new LlamaCpp(gguf, 1024, threads);
LlamaRun(llama, warmup: true);
var (llamaAnon, llamaFile) = (Status("RssAnon:") - anon0, Status("RssFile:") - file0);
var (busy0, total0) = CpuJiffies();
var self0 = Process.GetCurrentProcess().TotalProcessorTime;
var wall0 = Stopwatch.StartNew();
for (var r = 0; r < rounds; r++)
{
    Ours(ours, "ours", warmup: false);
    Ours(copied, "copied", warmup: false);
    LlamaRun(llama, warmup: false);
}
var (busy1, total1) = CpuJiffies();
var selfCpu = (Process.GetCurrentProcess().TotalProcessorTime - self0).TotalSeconds;
var machineBusy = (busy1 - busy0) / 100.0; // USER_HZ
var othersShare = Math.Max(0, machineBusy - selfCpu) / (wall0.Elapsed.TotalSeconds * Environment.ProcessorCount);
var hwm = Hwm();
var loadAfter = File.ReadAllText("/proc/loadavg").Split(' ')[0];

double Median(string key) { var l = results[key].Order().ToList(); return l[l.Count / 2]; }
var cpu = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name"))?.Split(':', 2)[1].Trim() ?? "unknown CPU";
Console.WriteLine();
Console.WriteLine($"## Decode benchmark ({DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC)");
Console.WriteLine();
Console.WriteLine($"Machine: {cpu}, {Environment.ProcessorCount} cores visible, {RuntimeInformation.OSDescription}; " +
                  $"{threads} threads for both engines; medians of {rounds} alternating rounds; " +
                  $"1-minute load average {loadBefore} before, {loadAfter} after; other processes used {othersShare:P0} of the machine's CPU time during the timed rounds.");
Console.WriteLine($"Model: generated Llama, hidden {spec.HiddenSize}, {spec.Layers} layers, intermediate {spec.IntermediateSize}, " +
                  $"{spec.Heads} heads / {spec.KeyValueHeads} kv heads, vocab {config.VocabSize}: {parameters / 1e6:F1}M parameters, fp32 " +
                  $"({parameters * 4 / 1e6:F0} MB). Ours: the safetensors checkpoint, memory-mapped (or copied into process memory, " +
                  "mapping dropped, in the 'copied' column); llama.cpp: the same weights as an F32 GGUF.");
Console.WriteLine();
double Best(string key, bool lowest = false) => lowest ? results[key].Min() : results[key].Max();
string Row(string metric, Func<string, double> value, string format, bool speedRatio = false)
{
    double o = value("ours"), c = value("copied"), l = value("llama");
    var ratio = speedRatio ? $"{l / o:F2} / {l / c:F2}" : $"{o / l:F2} / {c / l:F2}";
    return $"| {metric} | {o.ToString(format)} | {c.ToString(format)} | {l.ToString(format)} | {ratio} |";
}
Console.WriteLine("| metric | ours, mapped weights | ours, copied weights | llama.cpp (LLamaSharp 0.30) | ours / llama.cpp (mapped / copied) |");
Console.WriteLine("| --- | ---: | ---: | ---: | ---: |");
Console.WriteLine(Row("decode tokens/s, batch 1 (median)", e => Median($"{e}.decode1"), "F1"));
Console.WriteLine(Row("decode tokens/s, batch 1 (best round)", e => Best($"{e}.decode1"), "F1"));
Console.WriteLine(Row($"time to first token, {promptTokens}-token prompt, ms (median)", e => Median($"{e}.ttft") * 1000, "F0", speedRatio: true));
Console.WriteLine(Row($"time to first token, {promptTokens}-token prompt, ms (best round)", e => Best($"{e}.ttft", true) * 1000, "F0", speedRatio: true));
Console.WriteLine(Row("decode tokens/s, batch 8 aggregate (median)", e => Median($"{e}.decode8"), "F1"));
Console.WriteLine(Row("decode tokens/s, batch 8 aggregate (best round)", e => Best($"{e}.decode8"), "F1"));
Console.WriteLine(Row("batch-8 / batch-1 aggregate speedup (medians)", e => Median($"{e}.decode8") / Median($"{e}.decode1"), "F2"));
Console.WriteLine(Row("batch-8 / batch-1 aggregate speedup (best rounds)", e => Best($"{e}.decode8") / Best($"{e}.decode1"), "F2"));
Console.WriteLine($"| resident memory added, file-backed (mapped weights), MB | {oursFile / 1e6:F0} | {copiedFile / 1e6:F0} | {llamaFile / 1e6:F0} | |");
Console.WriteLine($"| resident memory added, anonymous (weights copy, KV cache, buffers), MB | {oursAnon / 1e6:F0} | {copiedAnon / 1e6:F0} | {llamaAnon / 1e6:F0} | |");
Console.WriteLine();
Console.WriteLine($"Process peak RSS (both engines loaded): {hwm / 1e6:F0} MB. Ours: KV cache 8 slots x 1024 positions, fp32 ({ours.Info.KvCacheBytes / 1e6:F0} MB); " +
                  "decode matmuls by the managed AVX2 kernel; llama.cpp: default context settings " +
                  "(flash attention auto, f16 KV cache), 8 sequences x 1024 positions, n_batch 512.");
return 0;

void Ours(EagerModelRunner runner, string label, bool warmup)
{
    // Time to first token: a 512-token prompt in one Step (chunked by the runner if needed).
    var sw = Stopwatch.StartNew();
    var row = runner.Step([new StepInput(0, 0, prompt)]);
    if (!warmup) Record($"{label}.ttft", sw.Elapsed.TotalSeconds);
    // Batch-1 decode after a short prompt.
    row = runner.Step([new StepInput(1, 0, shortPrompt)]);
    var n = warmup ? 16 : decodeTokens;
    sw.Restart();
    for (var i = 0; i < n; i++)
        row = runner.Step([new StepInput(1, shortPrompt.Length + i, new[] { ArgMax(row, 0, runner.VocabSize) })]);
    if (!warmup) Record($"{label}.decode1", n / sw.Elapsed.TotalSeconds);
    // Batch 8: eight sequences prefilled, then decoded together, one batched forward per step.
    var rows = runner.Step(Enumerable.Range(0, 8).Select(s => new StepInput(s, 0, prompt.AsMemory(s * 3, 16))).ToList());
    var steps = warmup ? 4 : decodeTokens / 2;
    sw.Restart();
    for (var i = 0; i < steps; i++)
    {
        var inputs = Enumerable.Range(0, 8).Select(s => new StepInput(s, 16 + i, new[] { ArgMax(rows, s, runner.VocabSize) })).ToList();
        rows = runner.Step(inputs);
    }
    if (!warmup) Record($"{label}.decode8", 8.0 * steps / sw.Elapsed.TotalSeconds);
    Log($"{label} round: ttft {Last($"{label}.ttft")}, decode1 {Last($"{label}.decode1")}, decode8 {Last($"{label}.decode8")}");
}

void LlamaRun(LlamaCpp llama, bool warmup)
{
    llama.Clear();
    var sw = Stopwatch.StartNew();
    var row = llama.Decode([(0, 0, prompt)]);
    if (!warmup) Record("llama.ttft", sw.Elapsed.TotalSeconds);
    llama.Clear();
    row = llama.Decode([(1, 0, shortPrompt)]);
    var n = warmup ? 16 : decodeTokens;
    sw.Restart();
    for (var i = 0; i < n; i++)
        row = llama.Decode([(1, shortPrompt.Length + i, new[] { ArgMax(row, 0, llama.VocabSize) })]);
    if (!warmup) Record("llama.decode1", n / sw.Elapsed.TotalSeconds);
    llama.Clear();
    var rows = llama.Decode(Enumerable.Range(0, 8).Select(s => (s, 0, prompt[(s * 3)..(s * 3 + 16)])).ToList());
    var steps = warmup ? 4 : decodeTokens / 2;
    sw.Restart();
    for (var i = 0; i < steps; i++)
        rows = llama.Decode(Enumerable.Range(0, 8).Select(s => (s, 16 + i, new[] { ArgMax(rows, s, llama.VocabSize) })).ToList());
    if (!warmup) Record("llama.decode8", 8.0 * steps / sw.Elapsed.TotalSeconds);
    Log($"llama.cpp round: ttft {Last("llama.ttft")}, decode1 {Last("llama.decode1")}, decode8 {Last("llama.decode8")}");
}

static void Profile(string modelDir, int threads, bool copy)
{
    using var runner = EagerModelRunner.Open(modelDir, new EagerRunnerOptions { Slots = 8, MaxSequenceLength = 1024, Threads = threads, CopyWeights = copy });
    Log($"copy={copy} THP_MEM_ALLOC_ENABLE={Environment.GetEnvironmentVariable("THP_MEM_ALLOC_ENABLE")} " +
        string.Join(", ", File.ReadLines("/proc/self/smaps_rollup").Where(l => l.StartsWith("AnonHugePages") || l.StartsWith("FilePmdMapped") || l.StartsWith("Rss:"))));
    var model = runner.Model;
    var c = runner.Config;
    using var projector = new Projector(threads);
    using var mode = TorchSharp.torch.inference_mode();
    var row = runner.Step([new StepInput(0, 0, new[] { 1, 2, 3, 4, 5, 6, 7, 8 })]);
    Log("after the first step: " + string.Join(", ", File.ReadLines("/proc/self/smaps_rollup").Where(l => l.StartsWith("AnonHugePages") || l.StartsWith("FilePmdMapped") || l.StartsWith("Rss:"))));
    var weightBytes = runner.Info.WeightBytes;
    for (var round = 0; round < 5; round++)
    {
        var cpu0 = ThreadCpu();
        var sw = Stopwatch.StartNew();
        const int n = 64;
        for (var i = 0; i < n; i++)
            row = runner.Step([new StepInput(0, 8 + round * n + i, new[] { ArgMax(row, 0, runner.VocabSize) })]);
        var step = sw.Elapsed.TotalSeconds / n;
        var stepCpu = (ThreadCpu() - cpu0) / n;
        TorchSharp.torch.set_num_threads(1);
        cpu0 = ThreadCpu();
        sw.Restart();
        for (var i = 0; i < n; i++)
        {
            using var scope = TorchSharp.torch.NewDisposeScope();
            var x = TorchSharp.torch.randn(1, c.HiddenSize);
            var inter = TorchSharp.torch.randn(1, c.IntermediateSize);
            foreach (var layer in model.model.layers)
            {
                projector.Project(x, layer.self_attn.q_proj.Matrix, layer.self_attn.k_proj.Matrix, layer.self_attn.v_proj.Matrix);
                projector.Project(x, layer.self_attn.o_proj.Matrix);
                projector.Project(x, layer.mlp.gate_proj.Matrix, layer.mlp.up_proj.Matrix);
                projector.Project(inter, layer.mlp.down_proj.Matrix);
            }
            projector.Project(x, model.HeadMatrix);
        }
        var proj = sw.Elapsed.TotalSeconds / n;
        var projCpu = (ThreadCpu() - cpu0) / n;
        Log($"main-thread cpu: step {stepCpu * 1000:F2} ms, projections {projCpu * 1000:F2} ms, other {(stepCpu - projCpu) * 1000:F2} ms; load {File.ReadAllText("/proc/loadavg").Split(' ')[0]}");
        Log($"step {step * 1000:F2} ms ({1 / step:F1} tok/s); projections alone {proj * 1000:F2} ms = {weightBytes / proj / 1e9:F1} GB/s; other {(step - proj) * 1000:F2} ms");
    }
}

// `--kernels 1`: the decode kernel alone per storage format: ~512 MB of [--out 8192, --in 2048] matrices (out of cache), a
// batch of `--rows` token rows, wall time and the calling thread's CPU time per byte.
static void KernelBench(int threads, int rows, int outDim, int inDim)
{
    using var mode = TorchSharp.torch.inference_mode();
    var formats = new (string Name, Func<TorchSharp.torch.Tensor, WeightMatrix> Make, int Bytes)[]
    {
        ("float32", w => WeightMatrix.Dense(w), 4),
        ("bfloat16", w => WeightMatrix.Dense(w.to(TorchSharp.torch.ScalarType.BFloat16)), 2),
        ("float16", w => WeightMatrix.Dense(w.to(TorchSharp.torch.ScalarType.Float16)), 2),
        ("int8", w => WeightMatrix.Quantized((w * 50).clamp(-127, 127).to(TorchSharp.torch.ScalarType.Int8), TorchSharp.torch.full(outDim, 1, 0.02f)), 1),
        ("uint8+128", w => WeightMatrix.Quantized((w * 50 + 128).clamp(1, 255).to(TorchSharp.torch.ScalarType.Byte), TorchSharp.torch.full(outDim, 1, 0.02f)), 1),
    };
    var x = TorchSharp.torch.randn(rows, inDim);
    foreach (var (name, make, bytes) in formats)
    {
        // Weights must outlive the projector (a late helper may still read them): one projector per format.
        var projector = new Projector(threads);
        var count = (int)((512L << 20) / ((long)outDim * inDim * bytes));
        var matrices = Enumerable.Range(0, count).Select(_ => make(TorchSharp.torch.randn(outDim, inDim))).ToArray();
        foreach (var m in matrices) using (projector.Project(x, m)) { }
        var total = (double)count * outDim * inDim * bytes;
        for (var round = 0; round < 3; round++)
        {
            var cpu0 = ThreadCpu();
            var sw = Stopwatch.StartNew();
            for (var rep = 0; rep < 4; rep++)
                foreach (var m in matrices) using (projector.Project(x, m)) { }
            var wall = sw.Elapsed.TotalSeconds / 4;
            var cpu = (ThreadCpu() - cpu0) / 4;
            Log($"{name,-10} [{outDim}, {inDim}] {rows} row(s), {threads} thread(s): {total / wall / 1e9:F1} GB/s wall (" +
                $"{count * (double)outDim * inDim / wall / 1e9:F2} G weights/s), calling thread {total / cpu / 1e9:F1} GB per CPU-second; load {File.ReadAllText("/proc/loadavg").Split(' ')[0]}");
        }
        Log($"{name}: {projector.TakeOvers} chunk(s) taken over from a preempted helper");
        projector.Dispose();
        foreach (var m in matrices) { m.Data.Dispose(); m.Scales?.Dispose(); }
    }
}

static void PrefillBench(string dir, int threads)
{
    using var runner = EagerModelRunner.Open(dir, new EagerRunnerOptions { Slots = 1, MaxSequenceLength = 1024, Threads = threads });
    Log($"{runner.Info.Dtype} weights, {runner.Info.Quantization ?? "not quantized"}");
    foreach (var length in new[] { 20, 64, 512, 20 })
    {
        var prompt = Enumerable.Range(0, length).Select(i => 100 + i).ToArray();
        var sw = Stopwatch.StartNew();
        runner.Step([new StepInput(0, 0, prompt)]);
        Log($"prefill of {length} tokens: {sw.Elapsed.TotalMilliseconds:F0} ms; load {File.ReadAllText("/proc/loadavg").Split(' ')[0]}");
    }
    using var mode = TorchSharp.torch.inference_mode();
    var m = runner.Model.model.layers[0].mlp.down_proj.Matrix;
    for (var i = 0; i < 3; i++)
    {
        var sw = Stopwatch.StartNew();
        using (m.Dequantize(0, m.Rows, TorchSharp.torch.ScalarType.Float32)) { }
        Log($"widening down_proj [{m.Rows}, {m.Columns}] {m.Describe()} to float32: {sw.Elapsed.TotalMilliseconds:F1} ms = {m.Bytes / sw.Elapsed.TotalSeconds / 1e9:F2} GB/s read");
        using var x = TorchSharp.torch.randn(20, m.Columns);
        using var w = m.Dequantize(0, m.Rows, TorchSharp.torch.ScalarType.Float32);
        sw.Restart();
        using (TorchSharp.torch.nn.functional.linear(x, w)) { }
        var gemm = sw.Elapsed.TotalMilliseconds;
        sw.Restart();
        using (m.Linear(x)) { }
        Log($"20 rows: F.linear on the widened float32 copy {gemm:F1} ms; WeightMatrix.Linear (widen blocks + GEMM) {sw.Elapsed.TotalMilliseconds:F1} ms; torch threads {TorchSharp.torch.get_num_threads()}");
    }
}

string Last(string key) => results.TryGetValue(key, out var l) ? l[^1].ToString("F3") : "-";

static int ArgMax(float[] rows, int row, int vocab)
{
    var span = rows.AsSpan(row * vocab, vocab);
    var best = 0;
    for (var i = 1; i < span.Length; i++) if (span[i] > span[best]) best = i;
    return best;
}

static long CountParameters(ModelConfig c)
{
    long h = c.HiddenSize, kv = (long)c.NumKeyValueHeads * c.HeadDim, q = (long)c.NumAttentionHeads * c.HeadDim;
    var perLayer = h * q + 2 * h * kv + q * h + 3 * h * c.IntermediateSize + 2 * h;
    return c.NumHiddenLayers * perLayer + c.VocabSize * h * (c.TieWordEmbeddings ? 1 : 2) + h;
}

static double ThreadCpu()
{
    var ts = new long[2];
    clock_gettime(3, ts); // CLOCK_THREAD_CPUTIME_ID
    return ts[0] + ts[1] * 1e-9;
}

[DllImport("libc", EntryPoint = "clock_gettime")]
static extern int clock_gettime(int clock, long[] ts);

static (long Busy, long Total) CpuJiffies()
{
    var f = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Select(long.Parse).ToArray();
    var idle = f[3] + f[4];
    var total = f.Take(8).Sum();
    return (total - idle, total);
}

static long Rss() => Status("VmRSS:");
static long Hwm() => Status("VmHWM:");
static long Status(string key)
{
    foreach (var line in File.ReadLines("/proc/self/status"))
        if (line.StartsWith(key))
            return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
    return 0;
}

static void Log(string message) => Console.Error.WriteLine($"[{DateTime.Now:HH:mm:ss}] {message}");

/// <summary>llama.cpp through LLamaSharp: default context settings, a given thread count, up to 8 sequences.</summary>
sealed class LlamaCpp : IDisposable
{
    private readonly LLamaWeights _weights;
    private readonly LLamaContext _context;

    public LlamaCpp(string gguf, int contextPerSequence, int threads)
    {
        NativeLibraryConfig.All.WithLogCallback((level, message) => { if (level >= LLamaLogLevel.Error) Console.Error.Write(message); });
        var p = new ModelParams(gguf)
        {
            ContextSize = (uint)(contextPerSequence * 8),
            SeqMax = 8,
            Threads = threads,
            BatchThreads = threads,
            GpuLayerCount = 0,
            BatchSize = 512,
            UBatchSize = 512,
        };
        _weights = LLamaWeights.LoadFromFile(p);
        _context = _weights.CreateContext(p);
        VocabSize = _context.Vocab.Count;
    }

    public int VocabSize { get; }

    public void Clear() => _context.NativeHandle.MemoryClear(true);

    /// <summary>One llama_decode over several sequences; returns each sequence's last logits, [count, vocab].</summary>
    public float[] Decode(IReadOnlyList<(int Seq, int Position, int[] Tokens)> inputs)
    {
        var batch = new LLamaBatch();
        var logitIndex = new List<int>();
        foreach (var (seq, position, tokens) in inputs)
        {
            for (var i = 0; i < tokens.Length; i++)
                batch.Add(tokens[i], position + i, (LLamaSeqId)seq, i == tokens.Length - 1);
            logitIndex.Add(batch.TokenCount - 1);
        }
        var result = _context.Decode(batch);
        if (result != DecodeResult.Ok) throw new InvalidOperationException($"llama_decode: {result}");
        var rows = new float[inputs.Count * VocabSize];
        for (var i = 0; i < inputs.Count; i++)
            _context.NativeHandle.GetLogitsIth(logitIndex[i]).CopyTo(rows.AsSpan(i * VocabSize, VocabSize));
        return rows;
    }

    public void Dispose()
    {
        _context.Dispose();
        _weights.Dispose();
    }
}
