using System.Diagnostics;
using System.Formats.Tar;
using System.Security.Cryptography;
using System.Text;
using Bento.Core.Archive;
using Bento.Core.IO;
using Bento.Core.Manifest;
using Bento.Core.Spec;
using Bento.Core.Store;
using ZstdSharp;

namespace Bento.Core.Tests;

/// <summary>
/// Fuzzing the parsers that take outside input — bentofile.yaml, bento.yaml and .bento archives — with a fixed seed
/// and a bounded count (a few seconds each): every input must either parse or fail with a
/// <see cref="BentoException"/> (the CLI's clear one-line error), within a time and allocation bound, and a failed
/// import must leave the store as it was. Any other exception is an "internal error" a user would see.
/// </summary>
[Collection(HostileInputCollection.Name)]
public class ParserFuzzTests : IDisposable
{
    /// <summary>Fixed, so CI runs are identical; BENTO_FUZZ_SEED explores others locally (a failure prints its input).</summary>
    private static readonly int Seed = int.TryParse(Environment.GetEnvironmentVariable("BENTO_FUZZ_SEED"), out var seed) ? seed : 20_260_112;

    /// <summary>Inputs per parser are multiplied by BENTO_FUZZ_SCALE (default 1) for longer local runs.</summary>
    private static readonly int Scale = int.TryParse(Environment.GetEnvironmentVariable("BENTO_FUZZ_SCALE"), out var scale) && scale > 0 ? scale : 1;
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    private static readonly string[] YamlTokens =
    [
        "\n", "\n  ", ": ", "- ", "? ", "{", "}", "[", "]", ",", "&a ", "*a", "!!str ", "!!int ", "!!binary ", "!foo ", "|\n  ",
        ">-\n  ", "'", "\"", "#", "%YAML 1.2\n---\n", "---\n", "...\n", "<<: *a\n", "\t", "\\x", "\\u", "name", "model", "runtime",
        "labels", "envs", "include", "exclude", "docker", "enforce_eager", "max_model_len", "port", "dtype", "value", "files",
        "sha256", "size", "path", "schema", "version",
    ];

    /// <summary>
    /// Runs <paramref name="parse"/> on <paramref name="count"/> mutations; an input may parse or throw a BentoException,
    /// nothing else, each in under 5 s and 200 MB of allocations.
    /// </summary>
    private static async Task FuzzAsync(Func<byte[]> next, int count, Func<byte[], Task> parse)
    {
        var clock = Stopwatch.StartNew();
        var (parsed, refused) = (0, 0);
        count *= Scale;
        for (var i = 0; i < count; i++)
        {
            var input = next();
            var before = GC.GetTotalAllocatedBytes(precise: false);
            try
            {
                await Task.Run(() => parse(input)).WaitAsync(TimeSpan.FromSeconds(5));
                parsed++;
            }
            catch (BentoException) { refused++; }
            catch (TimeoutException) { Assert.Fail($"input {i} took over 5 s: {Mutator.Show(input)}"); }
            catch (Exception e) { Assert.Fail($"input {i} gave {e.GetType().Name} ({e.Message}) instead of a clear error: {Mutator.Show(input)}\n{e}"); }
            var allocated = GC.GetTotalAllocatedBytes(precise: false) - before;
            Assert.True(allocated < HostileInput.MemoryBound, $"input {i} allocated {allocated >> 20} MiB: {Mutator.Show(input)}");
        }
        // The seeds must keep some inputs valid, or the fuzzer only ever tests the first line of the parser.
        Assert.True(parsed > count / 50 && refused > count / 10, $"{parsed} parsed, {refused} refused of {count}");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(40) * Scale, $"the run took {clock.Elapsed}");
    }

    [Fact]
    public async Task Bentofile_parser()
    {
        var project = _temp.CreateDirectory("project");
        var path = Path.Combine(project, BentofileParser.FileName);
        string[] seeds =
        [
            File.ReadAllText(Path.Combine(Repo.Root, "examples", "tiny-llama", "bentofile.yaml")),
            "name: a\n",
            """
            name: full
            description: "d"
            labels: {owner: ml, "k": v}
            model: {path: .}
            include: ["*.md", "docs/**"]
            exclude: [drafts/]
            envs:
              - {name: HF_HUB_OFFLINE, value: "1"}
            runtime:
              enforce_eager: {value: true, overridable: false, env: MY_EAGER}
              max_model_len: 512
              max_num_seqs: 8
              dtype: bf16
              gpu_memory_utilization: 0.85
              port: 8080
            docker:
              base_image: mcr.microsoft.com/dotnet/runtime-deps:10.0
              labels: {a: b}
            """,
            "name: &n x\ndescription: *n\nenvs: {A: '1', B: \"2\"}\nruntime: {enforce_eager: yes}\n",
        ];
        var mutator = new Mutator(Seed, seeds.Select(Encoding.UTF8.GetBytes), YamlTokens);
        await FuzzAsync(mutator.Next, 5000, input =>
        {
            BentofileParser.Parse(Utf8Text.Decode(input, "bentofile.yaml"), path);
            return Task.CompletedTask;
        });
    }

    private static BentoManifest SampleManifest(params (string Path, byte[] Bytes)[] files)
    {
        var manifest = new BentoManifest
        {
            Name = "fuzz",
            Created = DateTimeOffset.FromUnixTimeSeconds(1_700_000_000),
            Description = "a sample",
            Labels = new(StringComparer.Ordinal) { ["owner"] = "ml" },
            Envs = [new ManifestEnv { Name = "A", Value = "1" }],
            Model = new ManifestModel { Architecture = "LlamaForCausalLM", TorchDtype = "float32", Parameters = 10, MaxPositionEmbeddings = 512 },
            Runtime = new ManifestRuntime { MaxModelLen = 512, MaxNumSeqs = 8, Dtype = "auto", GpuMemoryUtilization = 0.9, Port = 3000 },
            Docker = new ManifestDocker { BaseImage = "debian:13", Labels = new(StringComparer.Ordinal) { ["x"] = "y" } },
            Build = new ManifestBuild { Tool = "bentobuilder fuzz" },
        };
        foreach (var (path, bytes) in files)
        {
            var entry = new ManifestFile { Path = path, Size = bytes.Length, Sha256 = Convert.ToHexStringLower(SHA256.HashData(bytes)) };
            if (path.StartsWith("model/", StringComparison.Ordinal)) manifest.Model.Files.Add(new ManifestFile { Path = path[6..], Size = entry.Size, Sha256 = entry.Sha256 });
            else manifest.Files.Add(new ManifestFile { Path = path[4..], Size = entry.Size, Sha256 = entry.Sha256 });
        }
        manifest.Version = ManifestVersion.Compute(manifest);
        return manifest;
    }

    private static readonly (string, byte[])[] SampleFiles =
    [
        ("model/config.json", "{\"a\": 1}"u8.ToArray()),
        ("model/model.safetensors", new byte[300]),
        ("model/tokenizer.json", "{\"model\": {}}"u8.ToArray()),
        ("src/README.md", "# hello\n"u8.ToArray()),
    ];

    [Fact]
    public async Task Manifest_parser()
    {
        var manifest = SampleManifest(SampleFiles);
        string[] seeds = [ManifestSerializer.ToYaml(manifest), ManifestSerializer.ToJson(manifest)];
        var mutator = new Mutator(Seed, seeds.Select(Encoding.UTF8.GetBytes), YamlTokens);
        await FuzzAsync(mutator.Next, 3000, input =>
        {
            var parsed = ManifestSerializer.FromYaml(Utf8Text.Decode(input, "bento.yaml"), "bento.yaml");
            ManifestVersion.Matches(parsed);
            return Task.CompletedTask;
        });
    }

    /// <summary>The tar stream of a small valid .bento (uncompressed), built the way export lays it out.</summary>
    private static byte[] SampleTar()
    {
        var manifest = SampleManifest(SampleFiles);
        var tar = new MemoryStream();
        using (var writer = new TarWriter(tar, TarEntryFormat.Pax, leaveOpen: true))
        {
            writer.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, BentoManifest.FileName) { DataStream = new MemoryStream(Encoding.UTF8.GetBytes(ManifestSerializer.ToYaml(manifest))) });
            foreach (var (path, bytes) in SampleFiles)
                writer.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, path) { DataStream = new MemoryStream(bytes) });
        }
        return tar.ToArray();
    }

    private static byte[] Compress(byte[] data)
    {
        using var compressor = new Compressor(1);
        return compressor.Wrap(data).ToArray();
    }

    [Fact]
    public async Task Archive_reader()
    {
        var tar = SampleTar();
        // The seed itself imports: the fuzzer starts from something the reader accepts.
        var check = new BentoStore(_temp.Combine("seed-store"));
        Assert.True((await BentoArchive.ImportAsync(check, new MemoryStream(Compress(tar)), "seed")).Created);

        var tarMutator = new Mutator(Seed, [tar], ["ustar", "PaxHeaders", "path=", "size=", "linkpath=", "\0\0\0\0", "0000777", "bento.yaml", "model/"]);
        var compressed = Compress(tar);
        var rawMutator = new Mutator(Seed + 1, [compressed], []);
        // Two thirds of the inputs mutate the tar and are then compressed (reaching the tar and manifest checks), one
        // third mutate the compressed bytes (reaching the zstd decoder).
        var (n, round) = (0, 0);
        await FuzzAsync(() => n++ % 3 == 2 ? rawMutator.Next() : Compress(tarMutator.Next()), 600, async input =>
        {
            var store = new BentoStore(_temp.Combine($"store-{round++}"));
            try
            {
                await BentoArchive.ImportAsync(store, new MemoryStream(input), "fuzz.bento");
            }
            catch (BentoException)
            {
                // A refused archive leaves no bento, no blob and no work directory.
                if (Directory.Exists(store.Root))
                {
                    Assert.Empty(store.List());
                    Assert.Empty(Directory.EnumerateFiles(store.BlobsDirectory));
                    Assert.Empty(Directory.EnumerateFileSystemEntries(store.TempDirectory));
                }
                throw;
            }
            finally
            {
                BentoStore.TryDeleteDirectory(store.Root);
            }
        });
    }
}
