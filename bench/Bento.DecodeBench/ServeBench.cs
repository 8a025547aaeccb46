using System.Diagnostics;
using System.Net.Http.Json;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Bento.Core.Build;
using Bento.Core.Model;
using Bento.Core.Store;
using Bento.ModelGen;
using Bento.Runtime.Model;
using LLama;
using LLama.Native;

/// <summary>
/// `bento-decode-bench serve`: issue 10's speed and memory targets, measured as a user meets them. On a generated
/// Llama-3.2-1B-shaped model (hidden 2048, 16 layers, ffn 8192, 32/8 heads, vocab 128256, tied) stored as bfloat16
/// safetensors: two bentos (the bf16 checkpoint as it is, and `quantize: int8`) served by `bento serve`, each
/// streamed over HTTP (batch 1, 2 threads, greedy, ignore_eos); side by side in the same run, llama.cpp (LLamaSharp
/// 0.30, in-process, the same 2 threads) on an F16 GGUF of the same weights and on its Q8_0 quantization (llama.cpp's
/// own quantizer). Alternating rounds; medians; resident memory of the runtime process against the weight file.
/// </summary>
static class ServeBench
{
    public static async Task<int> RunAsync(string[] args)
    {
        var opts = Args.Parse(args);
        var work = Path.GetFullPath(opts.Get("work", ".build/serve-bench"));
        var repo = Path.GetFullPath(opts.Get("repo", "."));
        var threads = opts.Int("threads", 2);
        var tokens = opts.Int("decode-tokens", 64);
        var rounds = opts.Int("rounds", 5);
        var layers = opts.Int("layers", 16);
        Directory.CreateDirectory(work);

        // 1. The model: Llama-3.2-1B's shape, bfloat16, tied embeddings.
        var modelDir = Path.Combine(work, $"llama-1b-shape-l{layers}-bf16");
        if (!File.Exists(Path.Combine(modelDir, "model.safetensors")))
        {
            Log($"generating {modelDir}");
            await ModelFolderGenerator.GenerateAsync(modelDir + ".tmp", ModelPresets.Random(new RandomModelSpec
            {
                HiddenSize = 2048, IntermediateSize = 8192, Layers = layers, Heads = 32, KeyValueHeads = 8, VocabSize = 128256,
                TiedEmbeddings = true, RopeTheta = 500000, MaxPositionEmbeddings = 2048, TorchDtype = "bfloat16",
            }));
            if (Directory.Exists(modelDir)) Directory.Delete(modelDir, true);
            Directory.Move(modelDir + ".tmp", modelDir);
        }
        var weights = Path.Combine(modelDir, "model.safetensors");
        var config = ModelConfig.Load(modelDir);
        var parameters = TensorLayout.For(config).Parameters;

        // 2. llama.cpp's files: F16 by our exporter, Q8_0 by llama.cpp's quantizer.
        var f16 = Path.Combine(work, $"llama-1b-shape-l{layers}-f16.gguf");
        var q8 = Path.Combine(work, $"llama-1b-shape-l{layers}-q8_0.gguf");
        if (!File.Exists(f16))
        {
            Log("writing the F16 GGUF");
            LlamaGgufExporter.Export(modelDir, f16 + ".tmp", GgmlType.F16);
            File.Move(f16 + ".tmp", f16);
        }
        // llama.cpp's CPU backend needs libgomp.so.1, which the Debian 13 rootfs lacks: LibTorch's bundled copy (same
        // soname), loaded first, satisfies it, as in the decode benchmark and the tests. LLamaSharp picks its native
        // build (avx512/avx2/...) when NativeApi first loads; the quantizer alone would not trigger that.
        using (TorchSharp.torch.ones(1)) { }
        NativeLibraryConfig.All.WithLogCallback((level, message) => { if (level >= LLamaLogLevel.Error) Console.Error.Write(message); });
        NativeApi.llama_empty_call();
        if (!File.Exists(q8))
        {
            Log("quantizing it to Q8_0 with llama.cpp");
            if (!LLamaQuantizer.Quantize(f16, q8 + ".tmp", LLamaFtype.MOSTLY_Q8_0, threads))
                throw new InvalidOperationException("llama.cpp could not quantize the GGUF");
            File.Move(q8 + ".tmp", q8);
        }

        // 3. The bentos, built by the library `bento build` runs.
        var store = new BentoStore(Path.Combine(work, "store"));
        string Bentofile(string name, string extra)
        {
            var dir = Path.Combine(work, "projects", name);
            Directory.CreateDirectory(dir);
            File.WriteAllText(Path.Combine(dir, "bentofile.yaml"),
                $"name: {name}\nmodel: {{path: {modelDir}{extra}}}\nruntime: {{max_model_len: 1024, max_num_seqs: 1}}\n");
            return Path.Combine(dir, "bentofile.yaml");
        }
        var sw = Stopwatch.StartNew();
        var bf16Bento = await new BentoBuilder(store).BuildAsync(Bentofile("llama1b-bf16", ""));
        Log($"built {bf16Bento.Manifest.Tag} in {sw.Elapsed.TotalSeconds:F1} s");
        sw.Restart();
        var int8Bento = await new BentoBuilder(store).BuildAsync(Bentofile("llama1b-int8", ", quantize: int8"));
        Log($"built {int8Bento.Manifest.Tag} in {sw.Elapsed.TotalSeconds:F1} s");
        var int8Weights = int8Bento.Manifest.Model.Files.Where(f => f.Path.EndsWith(".safetensors", StringComparison.Ordinal)).Sum(f => f.Size);

        var pageCache = new[] { weights, f16, q8, Path.Combine(int8Bento.Bento.Directory, "model", "model.safetensors") }
            .Select(PageCache.ReadAfresh).ToList();
        foreach (var line in pageCache) Log($"page cache: {line}");

        // 4. Servers (one per bento, both kept up) and llama.cpp contexts.
        using var bf16Server = await Server.StartAsync(repo, store.Root, bf16Bento.Manifest.Tag, 3901, threads);
        using var int8Server = await Server.StartAsync(repo, store.Root, int8Bento.Manifest.Tag, 3902, threads);
        Log($"bf16 server: {bf16Server.StartupLine}");
        Log($"int8 server: {int8Server.StartupLine}");
        using var llamaF16 = new LlamaCppBatch1(f16, threads);
        using var llamaQ8 = new LlamaCppBatch1(q8, threads);
        // Diagnostics: the same runners in this process, without engine or HTTP (what the serving layers cost).
        var runnerOptions = new EagerRunnerOptions { Slots = 1, MaxSequenceLength = 1024, Threads = threads };
        using var bf16Runner = EagerModelRunner.Open(Path.Combine(bf16Bento.Bento.Directory, "model"), runnerOptions);
        using var int8Runner = EagerModelRunner.Open(Path.Combine(int8Bento.Bento.Directory, "model"), runnerOptions);

        var prompt = "The quick brown fox jumps over the lazy dog while the scheduler keeps every core busy";
        var promptIds = llamaF16.Tokenize(prompt);
        var results = new Dictionary<string, List<double>>();
        void Record(string key, double v) => (results.TryGetValue(key, out var l) ? l : results[key] = []).Add(v);
        // A warm-up round each, not recorded.
        await bf16Server.StreamAsync(prompt, 8);
        await int8Server.StreamAsync(prompt, 8);
        llamaF16.Decode(promptIds, 8);
        llamaQ8.Decode(promptIds, 8);
        RunnerDecode(bf16Runner, promptIds, 8);
        RunnerDecode(int8Runner, promptIds, 8);

        var loadBefore = File.ReadAllText("/proc/loadavg").Trim();
        var (busy0, _) = CpuJiffies();
        var selfCpu0 = ChildrenAndSelfCpu(bf16Server.RuntimePid, int8Server.RuntimePid);
        var wall = Stopwatch.StartNew();
        for (var r = 0; r < rounds; r++)
        {
            var a = await bf16Server.StreamAsync(prompt, tokens);
            var b = llamaF16.Decode(promptIds, tokens);
            var c = await int8Server.StreamAsync(prompt, tokens);
            var d = llamaQ8.Decode(promptIds, tokens);
            Record("bf16", a); Record("f16", b); Record("int8", c); Record("q8", d);
            Log($"round {r + 1}: ours bf16 {a:F2} tok/s, llama.cpp F16 {b:F2}; ours int8 {c:F2}, llama.cpp Q8_0 {d:F2}; load {File.ReadAllText("/proc/loadavg").Split(' ')[0]}");
        }
        // The diagnostic rounds come after the timed ones, so they never change the load the comparison saw.
        for (var r = 0; r < rounds; r++)
        {
            Record("bf16-runner", RunnerDecode(bf16Runner, promptIds, tokens));
            Record("int8-runner", RunnerDecode(int8Runner, promptIds, tokens));
        }
        var (bf16Itl, int8Itl) = (await bf16Server.InterTokenLatencyAsync(), await int8Server.InterTokenLatencyAsync());
        var (busy1, _) = CpuJiffies();
        var selfCpu = ChildrenAndSelfCpu(bf16Server.RuntimePid, int8Server.RuntimePid) - selfCpu0;
        var others = Math.Max(0, (busy1 - busy0) / 100.0 - selfCpu) / (wall.Elapsed.TotalSeconds * Environment.ProcessorCount);
        var loadAfter = File.ReadAllText("/proc/loadavg").Trim();
        var bf16Rss = Status(bf16Server.RuntimePid, "VmRSS:");
        var (bf16Anon, bf16FileBacked) = (Status(bf16Server.RuntimePid, "RssAnon:"), Status(bf16Server.RuntimePid, "RssFile:"));
        var bf16Hwm = Status(bf16Server.RuntimePid, "VmHWM:");
        var int8Rss = Status(int8Server.RuntimePid, "VmRSS:");
        var bf16File = new FileInfo(weights).Length;

        double Median(string k) { var l = results[k].Order().ToList(); return l.Count % 2 == 1 ? l[l.Count / 2] : (l[l.Count / 2 - 1] + l[l.Count / 2]) / 2; }
        string Rounds(string k) => string.Join(", ", results[k].Select(v => v.ToString("F2")));
        var cpu = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name"))?.Split(':', 2)[1].Trim() ?? "unknown CPU";
        var flags = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("flags"))?.Split(' ') ?? [];
        Console.WriteLine();
        Console.WriteLine($"### bf16 and int8 serving vs llama.cpp — {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC");
        Console.WriteLine();
        Console.WriteLine($"Machine: {cpu}, {Environment.ProcessorCount} cores visible ({(flags.Contains("avx512_bf16") ? "AVX-512 with BF16" : flags.Contains("avx2") ? "AVX2" : "no AVX2")}), " +
                          $"{RuntimeInformation.OSDescription}; {threads} threads for both engines; {rounds} alternating rounds of {tokens} tokens. " +
                          $"Load average before: {loadBefore}; after: {loadAfter}; other processes used {others:P0} of the machine's CPU time during the timed rounds.");
        Console.WriteLine($"Model: generated Llama, hidden 2048, {layers} layers, intermediate 8192, 32 heads / 8 kv heads, vocab 128256, tied embeddings: " +
                          $"{parameters / 1e6:F0}M parameters; bfloat16 safetensors {bf16File / 1e6:F0} MB (float32 would be {parameters * 4 / 1e6:F0} MB).");
        Console.WriteLine("Ours: `bento serve` (one bento per row), a completion streamed over HTTP (SSE, greedy, ignore_eos, max_model_len 1024, max_num_seqs 1); " +
                          "decode tokens/s = (completion tokens - 1) / (last chunk - first chunk). llama.cpp: LLamaSharp in-process (no HTTP), batch 1, the same prompt tokens, " +
                          "decode tokens/s after the prompt.");
        Console.WriteLine();
        Console.WriteLine("| | ours | llama.cpp | ours / llama.cpp | target |");
        Console.WriteLine("| --- | ---: | ---: | ---: | --- |");
        Console.WriteLine($"| bf16 checkpoint vs F16 GGUF: decode tokens/s (median) | {Median("bf16"):F2} | {Median("f16"):F2} | **{Median("bf16") / Median("f16"):F2}x** | ≥ 1.0x |");
        Console.WriteLine($"| int8 bento vs Q8_0 GGUF: decode tokens/s (median) | {Median("int8"):F2} | {Median("q8"):F2} | **{Median("int8") / Median("q8"):F2}x** | ≥ 1.0x |");
        Console.WriteLine($"| bf16: runtime resident memory after decoding / weight file | {bf16Rss / 1e6:F0} MB (peak {bf16Hwm / 1e6:F0}) | | **{(double)bf16Rss / bf16File:F3}x** (peak {(double)bf16Hwm / bf16File:F3}x) | ≤ 1.15x |");
        Console.WriteLine($"| int8: stored weights / float32 size | {int8Weights / 1e6:F0} MB | Q8_0 {new FileInfo(q8).Length / 1e6:F0} MB | **{(double)int8Weights / (parameters * 4):F3}x** | ≤ 0.3x |");
        Console.WriteLine($"| int8: runtime resident memory after decoding | {int8Rss / 1e6:F0} MB | | | |");
        Console.WriteLine();
        Console.WriteLine($"bf16 runtime resident memory: {bf16FileBacked / 1e6:F0} MB file-backed (the mapped weights, the runtime's own code and LibTorch) + " +
                          $"{bf16Anon / 1e6:F0} MB anonymous (KV cache, activations, .NET heaps); the weight file is {bf16File / 1e6:F0} MB.");
        Console.WriteLine();
        Console.WriteLine($"Rounds (tokens/s): ours bf16 {Rounds("bf16")}; llama.cpp F16 {Rounds("f16")}; ours int8 {Rounds("int8")}; llama.cpp Q8_0 {Rounds("q8")}.");
        Console.WriteLine($"Where the time goes (diagnostics, measured after the timed rounds): the runner alone in-process (no engine, no HTTP) decodes " +
                          $"bf16 {Median("bf16-runner"):F2} and int8 {Median("int8-runner"):F2} tokens/s (medians); the servers' own mean inter-token latency " +
                          $"(vllm:inter_token_latency_seconds, warm-up included) was bf16 {bf16Itl * 1000:F1} ms and int8 {int8Itl * 1000:F1} ms.");
        Console.WriteLine($"Page cache before the rounds (each file evicted, read once in order, then checked as the runtime checks its own): {string.Join("; ", pageCache)}.");
        Console.WriteLine($"Start-up lines: bf16 `{bf16Server.StartupLine}`; int8 `{int8Server.StartupLine}`.");
        return 0;
    }

    /// <summary>Prefills the prompt, then decodes greedily with the runner itself; decode tokens/s (the prompt excluded).</summary>
    private static double RunnerDecode(EagerModelRunner runner, int[] prompt, int count)
    {
        var row = runner.Step([new StepInput(0, 0, prompt)]);
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < count - 1; i++)
        {
            var best = 0;
            for (var j = 1; j < runner.VocabSize; j++) if (row[j] > row[best]) best = j;
            row = runner.Step([new StepInput(0, prompt.Length + i, new[] { best })]);
        }
        return (count - 1) / clock.Elapsed.TotalSeconds;
    }

    private static (long Busy, long Total) CpuJiffies()
    {
        var f = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Select(long.Parse).ToArray();
        var idle = f[3] + f[4];
        var total = f.Take(8).Sum();
        return (total - idle, total);
    }

    /// <summary>CPU seconds of this process and of the two runtimes (utime + stime).</summary>
    private static double ChildrenAndSelfCpu(params int[] pids)
    {
        double Seconds(int pid)
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return (long.Parse(fields[11]) + long.Parse(fields[12])) / 100.0;
        }
        return Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds + pids.Sum(Seconds);
    }

    private static long Status(int pid, string key)
    {
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            if (line.StartsWith(key))
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
        return 0;
    }

    private static void Log(string message) => Console.Error.WriteLine($"[{DateTime.Now:HH:mm:ss}] {message}");

    /// <summary>`./bento serve TAG` with its own store; the runtime's pid is the CLI's child.</summary>
    private sealed class Server : IDisposable
    {
        private readonly Process _process;
        private readonly HttpClient _http;
        private readonly string _model;

        private JsonObject? _bias;

        private Server(Process process, HttpClient http, string model, int runtimePid, string startupLine)
        {
            (_process, _http, _model, RuntimePid, StartupLine) = (process, http, model, runtimePid, startupLine);
        }

        public int RuntimePid { get; }
        public string StartupLine { get; }

        public static async Task<Server> StartAsync(string repo, string home, string tag, int port, int threads)
        {
            var info = new ProcessStartInfo(Path.Combine(repo, "bento"), ["serve", tag, "--port", port.ToString(), "--host", "127.0.0.1"])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            info.Environment["BENTO_HOME"] = home;
            // The runtime sizes its threads (LibTorch and the decode kernel) by the cores .NET sees.
            info.Environment["DOTNET_PROCESSOR_COUNT"] = threads.ToString();
            var process = Process.Start(info)!;
            var lines = new List<string>();
            var loaded = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
            void OnLine(string? line)
            {
                if (line is null) return;
                lock (lines) lines.Add(line);
                if (line.Contains("loaded in", StringComparison.Ordinal)) loaded.TrySetResult(line.Trim());
                if (line.Contains("loading the model failed", StringComparison.Ordinal)) loaded.TrySetException(new InvalidOperationException(line));
            }
            process.OutputDataReceived += (_, e) => OnLine(e.Data);
            process.ErrorDataReceived += (_, e) => OnLine(e.Data);
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            var done = await Task.WhenAny(loaded.Task, process.WaitForExitAsync(), Task.Delay(TimeSpan.FromMinutes(5)));
            if (done != loaded.Task || loaded.Task.IsFaulted)
            {
                try { process.Kill(true); } catch (InvalidOperationException) { }
                lock (lines) throw new InvalidOperationException($"bento serve {tag} did not load:\n{string.Join('\n', lines.TakeLast(30))}");
            }
            var children = File.ReadAllText($"/proc/{process.Id}/task/{process.Id}/children").Split(' ', StringSplitOptions.RemoveEmptyEntries);
            var runtime = children.Select(int.Parse).Single();
            var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromMinutes(10) };
            return new Server(process, http, tag.Split(':')[0], runtime, loaded.Task.Result);
        }

        /// <summary>One streamed completion of <paramref name="maxTokens"/> tokens; decode tokens/s between the first and last chunk.</summary>
        public async Task<double> StreamAsync(string prompt, int maxTokens)
        {
            // A random model's greedy choice is mostly an id past the tokenizer's vocabulary (the embedding has 128256
            // rows, the generated tokenizer a few hundred), whose text is empty and sends no chunk. A logit_bias on
            // the prompt's own tokens keeps every step on a token with text: one chunk per token, as with a real model.
            _bias ??= await BiasAsync(prompt);
            var body = new JsonObject
            {
                ["model"] = _model, ["prompt"] = prompt, ["max_tokens"] = maxTokens, ["temperature"] = 0, ["ignore_eos"] = true,
                ["stream"] = true, ["stream_options"] = new JsonObject { ["include_usage"] = true }, ["logit_bias"] = _bias.DeepClone(),
            };
            using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/completions") { Content = JsonContent.Create(body) };
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            response.EnsureSuccessStatusCode();
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(), Encoding.UTF8);
            var clock = Stopwatch.StartNew();
            double first = -1, last = -1;
            int completionTokens = 0, chunks = 0;
            while (await reader.ReadLineAsync() is { } line)
            {
                if (!line.StartsWith("data: ", StringComparison.Ordinal) || line == "data: [DONE]") continue;
                using var chunk = JsonDocument.Parse(line[6..]);
                if (chunk.RootElement.TryGetProperty("usage", out var usage) && usage.ValueKind == JsonValueKind.Object)
                    completionTokens = usage.GetProperty("completion_tokens").GetInt32();
                if (chunk.RootElement.TryGetProperty("choices", out var choices) && choices.GetArrayLength() > 0)
                {
                    var now = clock.Elapsed.TotalSeconds;
                    chunks++;
                    if (first < 0) first = now;
                    last = now;
                }
            }
            if (completionTokens != maxTokens) throw new InvalidOperationException($"asked for {maxTokens} tokens, got {completionTokens}");
            if (chunks < completionTokens) throw new InvalidOperationException($"{completionTokens} tokens came in {chunks} chunks; the timing needs one per token");
            return (completionTokens - 1) / (last - first);
        }

        /// <summary>The server's mean inter-token latency in seconds, from its Prometheus metrics.</summary>
        public async Task<double> InterTokenLatencyAsync()
        {
            var text = await _http.GetStringAsync("/metrics");
            double Value(string name) => text.Split('\n').Where(l => l.StartsWith(name, StringComparison.Ordinal))
                .Select(l => double.Parse(l[(l.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture)).FirstOrDefault();
            var count = Value("vllm:inter_token_latency_seconds_count");
            return count > 0 ? Value("vllm:inter_token_latency_seconds_sum") / count : double.NaN;
        }

        private async Task<JsonObject> BiasAsync(string prompt)
        {
            using var response = await _http.PostAsJsonAsync("/tokenize", new JsonObject { ["model"] = _model, ["prompt"] = prompt, ["add_special_tokens"] = false });
            response.EnsureSuccessStatusCode();
            var tokens = (await response.Content.ReadFromJsonAsync<JsonObject>())!["tokens"]!.AsArray().Select(t => t!.GetValue<int>()).Distinct();
            return new JsonObject(tokens.Select(t => KeyValuePair.Create(t.ToString(), (JsonNode?)100)));
        }

        public void Dispose()
        {
            _http.Dispose();
            try
            {
                // SIGTERM: `bento serve` forwards it and the runtime drains and exits.
                kill(_process.Id, 15);
                if (!_process.WaitForExit(30_000)) _process.Kill(true);
            }
            catch (InvalidOperationException) { }
            _process.Dispose();
        }

        [DllImport("libc")]
        private static extern int kill(int pid, int signal);
    }

    /// <summary>llama.cpp batch-1 decode through LLamaSharp (the same settings as the in-process decode benchmark).</summary>
    private sealed class LlamaCppBatch1 : IDisposable
    {
        private readonly LLamaWeights _weights;
        private readonly LLamaContext _context;

        public LlamaCppBatch1(string gguf, int threads)
        {
            var p = new LLama.Common.ModelParams(gguf) { ContextSize = 1024, Threads = threads, BatchThreads = threads, GpuLayerCount = 0, BatchSize = 512 };
            _weights = LLamaWeights.LoadFromFile(p);
            _context = _weights.CreateContext(p);
        }

        public int[] Tokenize(string text) => _context.Tokenize(text, addBos: true).Select(t => (int)t).ToArray();

        /// <summary>Prefills the prompt, then decodes greedily; decode tokens/s (the prompt excluded).</summary>
        public double Decode(int[] prompt, int count)
        {
            _context.NativeHandle.MemoryClear(true);
            var batch = new LLamaBatch();
            for (var i = 0; i < prompt.Length; i++) batch.Add(prompt[i], i, LLamaSeqId.Zero, i == prompt.Length - 1);
            if (_context.Decode(batch) != DecodeResult.Ok) throw new InvalidOperationException("llama_decode failed");
            var next = ArgMax(_context.NativeHandle.GetLogitsIth(batch.TokenCount - 1));
            var clock = Stopwatch.StartNew();
            for (var i = 0; i < count - 1; i++)
            {
                batch.Clear();
                batch.Add(next, prompt.Length + i, LLamaSeqId.Zero, true);
                if (_context.Decode(batch) != DecodeResult.Ok) throw new InvalidOperationException("llama_decode failed");
                next = ArgMax(_context.NativeHandle.GetLogitsIth(0));
            }
            return (count - 1) / clock.Elapsed.TotalSeconds;
        }

        private static int ArgMax(Span<float> row)
        {
            var best = 0;
            for (var i = 1; i < row.Length; i++) if (row[i] > row[best]) best = i;
            return best;
        }

        public void Dispose()
        {
            _context.Dispose();
            _weights.Dispose();
        }
    }
}
