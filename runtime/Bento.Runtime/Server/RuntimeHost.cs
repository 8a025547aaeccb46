using System.Collections;
using Bento.Core.Manifest;
using Bento.Runtime.Engine;
using Bento.Runtime.Model;
using Bento.Runtime.Settings;
using Bento.Runtime.Tokenization;

namespace Bento.Runtime.Server;

/// <summary>
/// The runtime's start-up: check the native requirements, read the bento, resolve settings (default &lt; bento &lt;
/// env &lt; flags) and log them in one line, start listening at once (so /health answers during loading), load the
/// tokenizer, chat template and model in the background, then serve until SIGINT/SIGTERM. Stopping drains: new
/// generation requests get 503, in-flight ones run on for up to shutdown_timeout seconds and are then cancelled, and
/// the process exits 0.
/// </summary>
public static class RuntimeHost
{

    public static async Task<int> RunAsync(string[] args)
    {
        try
        {
            var (overrides, rest) = CliOverridesParser.Parse(args);
            var healthcheck = rest.Contains(HealthcheckProbe.Flag);
            var (parentPid, others) = ParentWatch.TakeFlag(rest.Where(a => a != HealthcheckProbe.Flag).ToList());
            var bentoDir = BentoDirectory(others);
            if (!healthcheck && NativeRequirements.Problem() is { } problem)
            {
                Console.Error.WriteLine($"error: {problem}");
                return 1;
            }
            var manifestPath = Path.Combine(bentoDir, BentoManifest.FileName);
            // The same reader (limits, UTF-8, BentoRules) as build and import: a bento that imports is a bento that starts.
            var manifest = ManifestSerializer.FromYaml(Bento.Core.IO.InputFile.ReadAllText(manifestPath, Bento.Core.InputLimits.YamlBytes, BentoManifest.FileName), manifestPath);
            var environment = Environment.GetEnvironmentVariables().Cast<DictionaryEntry>()
                .ToDictionary(e => (string)e.Key, e => (string?)e.Value ?? "", StringComparer.Ordinal);
            var settings = SettingsResolver.Resolve(manifest, environment, overrides);
            if (healthcheck) return await HealthcheckProbe.RunAsync(settings, Console.Out);
            // Weights mounted apart from the bento (a slim image): checked against bento.yaml before anything starts.
            var modelDir = ModelDirectory.FromEnvironment();
            if (modelDir is not null)
                Console.WriteLine((await ModelDirectory.VerifyAsync(manifest, modelDir, ModelDirectory.DefaultHashCachePath())).Describe());
            await using var app = Build(manifest, bentoDir, settings, modelDirectory: modelDir);
            if (parentPid is { } pid) ParentWatch.StopWhenGone(pid, app.Lifetime, app.Logger);
            await app.RunAsync();
            return 0;
        }
        catch (SettingsException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 1;
        }
        catch (Bento.Core.BentoException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 1;
        }
        catch (IOException e) when (e.Message.Contains("address already in use", StringComparison.OrdinalIgnoreCase))
        {
            Console.Error.WriteLine($"error: {e.Message}; choose another port with --port or BENTO_PORT");
            return 1;
        }
    }

    private static string Usage =>
        "bento-runtime --bento DIR [--healthcheck] [" + SettingName.NoEnforceEagerFlag + "] " +
        string.Join(' ', SettingName.All.Select(n => n.IsSwitch ? $"[{n.Flag}]" : $"[{n.Flag} {n.Example}]"));

    private static string BentoDirectory(IReadOnlyList<string> rest)
    {
        string? dir = null;
        for (var i = 0; i < rest.Count; i++)
        {
            if (rest[i] == "--bento" && i + 1 < rest.Count) dir = rest[++i];
            else if (rest[i].StartsWith("--bento=", StringComparison.Ordinal)) dir = rest[i]["--bento=".Length..];
            else throw new SettingsException($"unknown argument '{rest[i]}'; usage: {Usage}");
        }
        dir ??= Environment.GetEnvironmentVariable(Bento.Core.Serving.ImageContract.BentoPathVariable);
        if (string.IsNullOrEmpty(dir)) throw new SettingsException($"no bento given: pass --bento DIR or set {Bento.Core.Serving.ImageContract.BentoPathVariable}");
        if (!File.Exists(Path.Combine(dir, BentoManifest.FileName)))
            throw new SettingsException($"'{dir}' is not a bento directory (no {BentoManifest.FileName})");
        return Path.GetFullPath(dir);
    }

    /// <summary>Builds the web application for a bento; the model loads in the background once the app starts.</summary>
    /// <param name="maxWaiting">Requests that may queue beyond max_num_seqs before the server answers 503.</param>
    /// <param name="modelDirectory">Where the model's files are, when not in the bento (<see cref="ModelDirectory"/>, verified first).</param>
    public static WebApplication Build(BentoManifest manifest, string bentoDir, EngineSettings settings, int maxWaiting = 256, string? modelDirectory = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss "; });
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        builder.WebHost.UseUrls($"http://{FormatHost(settings.Host.Value)}:{settings.Port.Value}");
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            HttpLimits.Apply(k.Limits, settings.MaxRequestBytes.Value);
        });
        // Kestrel stops listening at once and lets in-flight requests finish until this runs out, then aborts them
        // (which cancels their sequences in the engine).
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(settings.ShutdownTimeout.Value));
        var app = builder.Build();
        var log = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("bento");

        log.LogInformation("{Settings}", settings.Describe());
        foreach (var note in settings.Notes) log.LogWarning("{Note}", note);

        var modelDir = modelDirectory ?? Path.Combine(bentoDir, manifest.Model.Path);
        var maxModelLen = settings.MaxModelLen.Value ?? manifest.Runtime.MaxModelLen;
        if (maxModelLen <= 0) maxModelLen = manifest.Model.MaxPositionEmbeddings;
        var state = new ServingState
        {
            ModelName = manifest.Name,
            BentoTag = manifest.Tag,
            MaxModelLen = maxModelLen,
            ApiKey = settings.ApiKey.Value is { } key ? new ApiKeyGuard(key) : null,
            Settings = settings.ToHealthJson(),
            Metrics = new EngineMetrics(manifest.Name),
            Created = manifest.Created,
        };
        OpenAiEndpoints.Map(app, state);
        app.Lifetime.ApplicationStopping.Register(() =>
        {
            state.Draining = true;
            var stats = state.Model?.Engine.Stats;
            log.LogInformation("stopping: no new requests; {Running} running and {Waiting} waiting get up to {Seconds} s ({Setting}) to finish",
                stats?.Running ?? 0, stats?.Waiting ?? 0, settings.ShutdownTimeout.Value, SettingName.ShutdownTimeout.Env);
        });

        app.Lifetime.ApplicationStarted.Register(() => _ = Task.Run(() =>
        {
            try
            {
                var started = System.Diagnostics.Stopwatch.StartNew();
                var config = ModelConfig.Load(modelDir);
                // Planned before anything is allocated: a model that does not fit fails here, with what to change.
                var plan = MemoryPlanner.Plan(new PlanRequest
                {
                    Model = config,
                    Parameters = manifest.Model.Parameters,
                    Dtype = ModelDtype.Resolve(settings.Dtype.Value, config.TorchDtype),
                    MaxModelLen = maxModelLen,
                    MaxNumSeqs = settings.MaxNumSeqs.Value,
                    Device = HostMemory.Measure(),
                    GpuMemoryUtilization = settings.GpuMemoryUtilization.Value,
                    KvCacheMemory = settings.KvCacheMemory.Value,
                    EnforceEager = settings.EnforceEager.Value,
                    PrefillChunk = new EagerRunnerOptions().PrefillChunk,
                });
                state.Plan = plan;
                log.LogInformation("{Plan}", plan.Describe());
                foreach (var note in plan.Notes) log.LogWarning("{Note}", note);
                if (!plan.Fits) throw new Bento.Core.BentoException($"the model does not fit: {plan.Problem}");
                var tokenizer = HfTokenizer.Load(modelDir);
                var chat = ChatTemplateRenderer.Load(modelDir, tokenizer, settings.ToolCallParser.Value);
                var defaults = GenerationDefaults.Load(modelDir);
                log.LogInformation("sampling defaults from generation_config.json: {Defaults}; tool calls: {Parser}", defaults, chat.ToolCallParser);
                var selection = ModelRunnerFactory.Create(new RunnerRequest
                {
                    ModelDirectory = modelDir,
                    Config = config,
                    Dtype = settings.Dtype.Value,
                    MaxModelLen = maxModelLen,
                    Plan = plan,
                });
                var runner = selection.Runner;
                var engine = new LlmEngine(runner, tokenizer, new EngineOptions { MaxNumSeqs = settings.MaxNumSeqs.Value, MaxModelLen = maxModelLen, MaxWaiting = maxWaiting }, state.Metrics);
                // Stopped, not Stopping: the engine must keep decoding while in-flight requests drain.
                app.Lifetime.ApplicationStopped.Register(() => { engine.Dispose(); runner.Dispose(); });
                var info = selection.Info;
                state.Model = new LoadedModel(engine, tokenizer, chat, info) { Defaults = defaults };
                // The vocabulary trie constrained decoding walks, built off the request path (about a second at 128k tokens).
                _ = Task.Run(() => Engine.Guided.GuidedCompiler.Prepare(tokenizer));
                log.LogInformation(
                    "model {Model} loaded in {Seconds:0.0}s: {Runner} runner on {Device} {Dtype} weights ({Quantization}), {Activations} activations, enforce_eager={Eager} ({Source}), CUDA graphs: {Graphs}; weights {Weights} MiB{Pages}, paged KV cache {Kv} MiB = {Blocks} blocks of {BlockSize} tokens ({Tokens} tokens), up to {Seqs} sequences of at most {Len} tokens",
                    manifest.Tag, started.Elapsed.TotalSeconds, selection.Kind, info.Device, info.Dtype, info.Quantization ?? "not quantized",
                    info.ActivationDtype, settings.EnforceEager.Value.ToWireName(),
                    settings.EnforceEager.Source.ToWireName(), info.GraphState, info.WeightBytes >> 20,
                    info.WeightPages is null ? "" : $" ({info.WeightPages})", info.KvCacheBytes >> 20,
                    info.KvBlocks, KvCache.BlockSize, info.KvTokens, engine.Options.MaxNumSeqs, engine.Options.MaxModelLen);
            }
            catch (Exception e)
            {
                state.LoadError = e;
                log.LogError("loading the model failed: {Message}", e.Message);
            }
        }));
        log.LogInformation("serving {Tag} on http://{Host}:{Port} (OpenAI API under /v1; /health, /ready, /metrics)", manifest.Tag, settings.Host.Value, settings.Port.Value);
        return app;
    }

    private static string FormatHost(string host) => host.Contains(':') && !host.StartsWith('[') ? $"[{host}]" : host;
}
