using System.Reflection;
using Bento.Core.IO;
using Bento.Core.Manifest;
using Bento.Core.Model;
using Bento.Core.Spec;
using Bento.Core.Store;

namespace Bento.Core.Build;

/// <summary>
/// <c>bento build</c>: validate the bentofile and model folder, hash every file (in parallel, through the hash cache),
/// derive the version from the content, then — holding the store lock only for this short step — link blobs and the
/// bento directory under tmp/ and rename it into place. A failure at any point leaves the store as it was.
/// </summary>
public sealed class BentoBuilder
{
    private readonly BentoStore _store;
    private readonly IBuildObserver _observer;
    private readonly Func<DateTimeOffset> _clock;

    /// <param name="clock">When the bento is created; default <see cref="CreatedTimestamp"/> (SOURCE_DATE_EPOCH or now).</param>
    public BentoBuilder(BentoStore store, IBuildObserver? observer = null, Func<DateTimeOffset>? clock = null)
    {
        _store = store;
        _observer = observer ?? IBuildObserver.None;
        _clock = clock ?? CreatedTimestamp;
    }

    /// <summary>
    /// Take the targets of symbolic links that leave the model or build folder (<c>bento build
    /// --follow-external-symlinks</c>); by default such a link is refused, naming it. See <see cref="SymlinkPolicy"/>.
    /// </summary>
    public bool FollowExternalSymlinks { get; init; }

    public static string ToolVersion =>
        typeof(BentoBuilder).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "0.0.0";

    public async Task<BuildResult> BuildAsync(string bentofilePath, CancellationToken ct = default)
    {
        var spec = BentofileParser.Load(bentofilePath);
        var model = await ModelInspector.InspectAsync(spec.ModelDirectory, ct);
        // The model folder's links are resolved (and those leaving it refused) before a byte is read, hashed or
        // stored: the quantizer reads through them too.
        var modelLinks = new SymlinkPolicy(spec.ModelDirectory, "model folder", FollowExternalSymlinks);
        var modelTargets = model.Files.ToDictionary(f => f.FullPath, f => modelLinks.Resolve(f.FullPath), StringComparer.Ordinal);
        string? quantized = null;
        try
        {
            if (spec.Quantize is not { } scheme) return await BuildAsync(spec, model, modelTargets, ct);
            // The int8 files are written to a work directory and stored like any input (then the directory goes);
            // a rebuild from unchanged sources reuses the stored ones.
            var cache = QuantizedWeightsCache.Load(_store);
            var key = QuantizedWeightsCache.Key(model, scheme);
            if (cache.Lookup(key, _store) is { } stored && WeightQuantizer.Reuse(model, scheme, stored) is { } reused)
            {
                _observer.Message($"reusing the {scheme.Name} weights of an earlier build");
                return await BuildAsync(spec, reused, modelTargets, ct);
            }
            _store.EnsureCreated();
            quantized = _store.CreateTempDirectory("quantize");
            model = await WeightQuantizer.QuantizeAsync(model, scheme, quantized, _observer, ct);
            var result = await BuildAsync(spec, model, modelTargets, ct);
            var outputs = model.Files.Where(QuantizedWeightsCache.IsRewritten)
                .Select(f => (f.RelativePath, result.Manifest.Model.Files.Single(m => m.Path == f.RelativePath).Sha256));
            try { await cache.RememberAsync(key, outputs, _store, ct); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { } // best effort, like the hash cache
            return result;
        }
        finally
        {
            if (quantized is not null) BentoStore.TryDeleteDirectory(quantized);
        }
    }

    /// <param name="modelTargets">The model folder's files (full path to resolved target); the model's files that are
    /// not among them are the quantizer's own outputs in the store.</param>
    private async Task<BuildResult> BuildAsync(Bentofile spec, ModelFolder model, IReadOnlyDictionary<string, string> modelTargets, CancellationToken ct)
    {
        // The model folder's own files never go to src/, also when the bento carries quantized copies instead.
        var modelPaths = modelTargets.Keys.Select(Path.GetFullPath).ToHashSet(StringComparer.Ordinal);
        var sources = SourceSelector.ForDirectory(spec.Directory, spec.Include, spec.Exclude).Select(spec.Directory, modelPaths);

        // Links are resolved (and those leaving their folder refused) before a byte is hashed or stored.
        var sourceLinks = new SymlinkPolicy(spec.Directory, "build folder", FollowExternalSymlinks);
        string ResolveModelFile(ModelFile f) =>
            modelTargets.TryGetValue(f.FullPath, out var target) ? target : Path.GetFullPath(f.FullPath);
        var inputs = model.Files.Select(f => new Input(f.FullPath, ResolveModelFile(f), BentoManifest.ModelDirectory, f.RelativePath))
            .Concat(sources.Select(s => (Full: Path.Combine(spec.Directory, s), Relative: s))
                .Select(s => new Input(s.Full, sourceLinks.Resolve(s.Full), BentoManifest.SourceDirectory, s.Relative)))
            .ToList();

        var cache = _store.LoadHashCache();
        var (hashed, fromCache) = await HashAllAsync(inputs, cache, ct);
        try
        {
            return await CommitAsync(spec, model, inputs, hashed, fromCache, cache, ct);
        }
        finally
        {
            // The hashes are right whatever happened to the commit; the cache is best effort (an unwritable store
            // is reported by the commit itself).
            try { await cache.SaveAsync(CancellationToken.None); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or BentoException) { }
        }
    }

    private async Task<BuildResult> CommitAsync(Bentofile spec, ModelFolder model, List<Input> inputs, int hashed, int fromCache, HashCache cache, CancellationToken ct)
    {
        var manifest = ComposeManifest(spec, model, inputs, _clock());
        var ingest = new Dictionary<IngestMethod, int>();

        var tag = new BentoTag(manifest.Name, manifest.Version);
        using var storeLock = await _store.LockAsync(_observer.Message, ct);
        _store.RemoveLeftovers(); // of interrupted commands: the lock guarantees none of them is running
        IReadOnlyList<string>? damaged = null;
        if (_store.Exists(manifest.Name, manifest.Version))
        {
            // Same version, same content: nothing to do, unless the stored copy was damaged since (then the sources,
            // just hashed, repair it). Hard-linked blobs are the sources' own inodes and are not read again.
            var knownGood = inputs.GroupBy(i => i.Sha256!).ToDictionary(g => g.Key, g => g.First().Identity);
            damaged = await DamageCheck.FindAsync(_store, _store.Resolve(tag), knownGood, cache, ct);
            if (damaged.Count == 0)
            {
                await _store.WriteLatestAsync(manifest.Name, manifest.Version, ct);
                return new BuildResult(_store.Resolve(tag), false, hashed, fromCache, ingest);
            }
        }
        var work = _store.CreateTempDirectory("build");
        var blobs = new BlobWriter(_store, work);
        var committed = false;
        try
        {
            var damagedBlobs = damaged is null ? [] : manifest.AllFiles().Where(f => damaged.Contains(f.BentoPath)).Select(f => f.File.Sha256).ToHashSet();
            foreach (var input in inputs)
            {
                ct.ThrowIfCancellationRequested();
                // A damaged blob makes way for the source's verified bytes (a new inode; the bento is relinked below).
                if (damagedBlobs.Remove(input.Sha256!)) File.Delete(_store.BlobPath(input.Sha256!));
                var method = await blobs.IngestAsync(input.RealPath, input.Sha256!, input.Identity, ct);
                ingest[method] = ingest.GetValueOrDefault(method) + 1;
            }
            var created = await _store.AssembleAndCommitAsync(work, manifest, ct, replace: damaged is not null);
            committed = true;
            return new BuildResult(_store.Resolve(tag), created, hashed, fromCache, ingest, damaged?.Count ?? 0);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw _store.StoreError($"write {manifest.Tag}", e);
        }
        finally
        {
            if (!committed) blobs.RollBack();
            BentoStore.TryDeleteDirectory(work);
        }
    }

    /// <param name="FullPath">The path as found in the folder (errors name it).</param>
    /// <param name="RealPath">Where its bytes are: the final target when it is a symbolic link (what is hashed and stored).</param>
    private sealed record Input(string FullPath, string RealPath, string Directory, string RelativePath)
    {
        public string? Sha256 { get; set; }
        public FileIdentity Identity { get; set; }
    }

    private async Task<(int Hashed, int FromCache)> HashAllAsync(List<Input> inputs, HashCache cache, CancellationToken ct)
    {
        int hashed = 0, fromCache = 0;
        // Biggest first, so two large shards run side by side instead of one waiting behind small files.
        // The cache is keyed by the real file, so links (as in Hugging Face's cache) share their target's entry.
        var order = inputs.Select(i => (Input: i, Real: i.RealPath))
            .Select(x => (x.Input, x.Real, Id: Identify(x.Real, x.Input.FullPath))).OrderByDescending(x => x.Id.Size).ToList();
        await Parallel.ForEachAsync(order, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount, CancellationToken = ct },
            async (item, token) =>
            {
                var (input, real, id) = item;
                var label = $"{input.Directory}/{input.RelativePath}";
                input.Identity = id;
                var known = cache.Lookup(real, id);
                if (known is not null)
                {
                    input.Sha256 = known;
                    Interlocked.Increment(ref fromCache);
                    _observer.HashFinished(label, fromCache: true);
                    return;
                }
                _observer.HashStarted(label, id.Size);
                var sha = await FileHasher.HashAsync(real, n => _observer.HashProgress(label, n), token);
                var after = Identify(real, input.FullPath);
                if (after.MtimeNs != id.MtimeNs || after.Size != id.Size)
                    throw new BentoException($"{BentofileParser.DisplayPath(input.FullPath)} changed while it was being hashed; build again");
                input.Sha256 = sha;
                cache.Remember(real, id, sha);
                Interlocked.Increment(ref hashed);
                _observer.HashFinished(label, fromCache: false);
            });
        return (hashed, fromCache);
    }

    /// <summary>Identity of the content of <paramref name="real"/>; errors name the path the user gave.</summary>
    private static FileIdentity Identify(string real, string given)
    {
        // Every input is hashed and stored: one that is not a regular file would hang or never end.
        InputFile.RequireRegular(given);
        try { return Posix.Identify(real); }
        catch (IOException e) { throw new BentoException($"{BentofileParser.DisplayPath(given)}: {e.Message}"); }
    }

    private static BentoManifest ComposeManifest(Bentofile spec, ModelFolder model, List<Input> inputs, DateTimeOffset created)
    {
        var manifest = new BentoManifest
        {
            Name = spec.Name,
            Created = created,
            Description = spec.Description,
            Labels = new SortedDictionary<string, string>(spec.Labels.ToDictionary(), StringComparer.Ordinal),
            Envs = spec.Envs.Select(e => new ManifestEnv { Name = e.Name, Value = e.Value }).ToList(),
            Model = new ManifestModel
            {
                Architecture = model.Config.Architecture,
                TorchDtype = model.Config.TorchDtype?.Name,
                Parameters = model.Parameters,
                MaxPositionEmbeddings = model.Config.MaxPositionEmbeddings,
                Quantization = model.Config.Quantization is { } q ? new ManifestQuantization
                {
                    Scheme = spec.Quantize?.Name,
                    Method = WeightQuantization.Method,
                    Format = q.Format,
                    Bits = WeightQuantization.Bits,
                    Strategy = q.Strategy,
                    GroupSize = q.GroupSize,
                    QuantizedBy = spec.Quantize is null ? "checkpoint" : "bento build",
                } : null,
                Files = Files(inputs, BentoManifest.ModelDirectory),
            },
            Runtime = Runtime(spec.Runtime, model.Config.MaxPositionEmbeddings),
            Docker = new ManifestDocker
            {
                BaseImage = spec.Docker.BaseImage,
                Labels = new SortedDictionary<string, string>(spec.Docker.Labels.ToDictionary(), StringComparer.Ordinal),
            },
            Files = Files(inputs, BentoManifest.SourceDirectory),
            Build = new ManifestBuild { Tool = $"bentobuilder {ToolVersion}" },
        };
        if (manifest.Runtime.MaxModelLen > model.Config.MaxPositionEmbeddings)
            throw new BentoException($"{BentofileParser.DisplayPath(spec.FilePath)}: runtime.max_model_len ({manifest.Runtime.MaxModelLen}) exceeds the model's max_position_embeddings ({model.Config.MaxPositionEmbeddings})");
        model.Config.CheckServable(manifest.Runtime.MaxModelLen, $"{BentofileParser.DisplayPath(spec.FilePath)}: runtime.max_model_len");
        manifest.Version = ManifestVersion.Compute(manifest);
        CheckImportable(spec, manifest);
        return manifest;
    }

    /// <summary>
    /// The bento.yaml this build would write goes through the reader import, pull and serve use (YAML limits and
    /// <see cref="BentoRules"/>): a build must not make a bento they refuse (a 20 MiB description used to build and
    /// export, and then could not be imported anywhere).
    /// </summary>
    private static void CheckImportable(Bentofile spec, BentoManifest manifest)
    {
        var yaml = ManifestSerializer.ToYaml(manifest);
        var display = BentofileParser.DisplayPath(spec.FilePath);
        try { ManifestSerializer.FromYaml(yaml, BentoManifest.FileName); }
        catch (BentoException e)
        {
            throw new BentoException($"{display}: the bento's {BentoManifest.FileName} would be refused by 'bento import' ({e.Message}); " +
                                     "select fewer files or shorten the description and labels");
        }
    }

    private static List<ManifestFile> Files(List<Input> inputs, string directory) =>
        inputs.Where(i => i.Directory == directory)
            .Select(i => new ManifestFile { Path = i.RelativePath, Size = i.Identity.Size, Sha256 = i.Sha256! })
            .OrderBy(f => f.Path, StringComparer.Ordinal).ToList();

    /// <summary>
    /// The manifest's runtime section: enforce_eager as the bentofile locked it, and every bentofile setting of the
    /// table with the bentofile's value or else its default (max_model_len: the model's max_position_embeddings), so
    /// the manifest shows what a bare start of the bento uses.
    /// </summary>
    private static ManifestRuntime Runtime(RuntimeSpec spec, int maxPositionEmbeddings)
    {
        var runtime = new ManifestRuntime
        {
            EnforceEager = new ManifestEnforceEager { Value = spec.EnforceEager.Value, Overridable = spec.EnforceEager.Overridable, Env = spec.EnforceEager.Env },
        };
        foreach (var setting in Serving.SettingName.Bentofile.Where(s => s != Serving.SettingName.EnforceEager))
        {
            var value = spec.Given.GetValueOrDefault(setting)
                        ?? (setting == Serving.SettingName.MaxModelLen ? maxPositionEmbeddings : setting.DefaultValue)
                        ?? throw new InvalidOperationException($"bentofile setting {setting.Key} has no default");
            setting.WriteManifestBoxed(runtime, value);
        }
        return runtime;
    }

    /// <summary>SOURCE_DATE_EPOCH when set (reproducible builds), else now; whole seconds, UTC.</summary>
    public static DateTimeOffset CreatedTimestamp() =>
        SourceDateEpoch.Read() ?? DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds());
}
