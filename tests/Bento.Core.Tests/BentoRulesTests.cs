using System.Formats.Tar;
using System.Text;
using Bento.Core.Archive;
using Bento.Core.Manifest;
using Bento.Core.Spec;
using Bento.Core.Store;
using ZstdSharp;

namespace Bento.Core.Tests;

/// <summary>
/// One rule for a valid bento (<see cref="BentoRules"/>): every reader of a bento.yaml applies it — the store, import
/// and the runtime's start-up, all through <see cref="ManifestSerializer"/> — and the build runs its manifest through
/// that reader, so what builds imports and serves. Text must be UTF-8: invalid bytes are an error with file, line and
/// column, not a silent U+FFFD.
/// </summary>
public class BentoRulesTests : StoreTestBase
{
    private async Task<BentoManifest> BuiltManifestAsync() =>
        (await BuildAsync(await ModelFixture.BuildDirectoryAsync(Temp))).Manifest;

    /// <summary>A manifest changed by <paramref name="change"/> and given its matching version, as a crafted bento would be.</summary>
    private static string Altered(BentoManifest manifest, Action<BentoManifest> change)
    {
        var copy = ManifestSerializer.FromYaml(ManifestSerializer.ToYaml(manifest), "copy");
        change(copy);
        copy.Version = ManifestVersion.Compute(copy);
        return ManifestSerializer.ToYaml(copy);
    }

    public static TheoryData<string, string> BrokenRules() => new()
    {
        { "max_model_len=-5", "runtime.max_model_len: '-5' is not allowed; use" },
        { "max_model_len=257", "runtime.max_model_len: must be from 1 to 256" },
        { "max_num_seqs=100000", "runtime.max_num_seqs: '100000' is not allowed; use" },
        { "port=0", "runtime.port: '0' is not allowed; use" },
        { "dtype=float8", "runtime.dtype: 'float8' is not allowed; use auto, float32" },
        { "gpu_memory_utilization=0", "runtime.gpu_memory_utilization: '0' is not allowed; use" },
        { "enforce_eager.env=1BAD", "runtime.enforce_eager.env: '1BAD' is not a valid environment variable name" },
        { "env=A-B", "envs: 'A-B' is not a valid environment variable name" },
        { "model.path=../../etc", "model.path: must be 'model', got '../../etc'" },
        { "max_position_embeddings=-5", "model.max_position_embeddings: must be from 1 to 16777216, got -5" },
        { "no tokenizer.json", "model.files: no tokenizer.json; a bento's model needs it" },
        { "description=70KiB", "description: 70 KiB (71680 bytes) exceeds the 64 KiB limit" },
        { "label=credentials", "labels.source: this URL carries credentials" },
        { "docker.label=20KiB", "docker.labels.big: the value is 20 KiB (20480 bytes), over the 16 KiB limit" },
        { "base_image=credentials", "docker.base_image: expected an image reference such as" },
    };

    private static void Break(BentoManifest m, string rule)
    {
        switch (rule)
        {
            case "max_model_len=-5": m.Runtime.MaxModelLen = -5; break;
            case "max_model_len=257": m.Runtime.MaxModelLen = 257; break;
            case "max_num_seqs=100000": m.Runtime.MaxNumSeqs = 100_000; break;
            case "port=0": m.Runtime.Port = 0; break;
            case "dtype=float8": m.Runtime.Dtype = "float8"; break;
            case "gpu_memory_utilization=0": m.Runtime.GpuMemoryUtilization = 0; break;
            case "enforce_eager.env=1BAD": m.Runtime.EnforceEager.Env = "1BAD"; break;
            case "env=A-B": m.Envs.Add(new ManifestEnv { Name = "A-B", Value = "1" }); break;
            case "model.path=../../etc": m.Model.Path = "../../etc"; break;
            case "max_position_embeddings=-5": m.Model.MaxPositionEmbeddings = -5; m.Runtime.MaxModelLen = 0; break;
            case "no tokenizer.json": m.Model.Files.RemoveAll(f => f.Path == "tokenizer.json"); break;
            case "description=70KiB": m.Description = new string('d', 70 << 10); break;
            case "label=credentials": m.Labels["source"] = "https://me:ghp_secret@github.com/org/repo"; break;
            case "docker.label=20KiB": m.Docker.Labels["big"] = new string('v', 20 << 10); break;
            case "base_image=credentials": m.Docker.BaseImage = "https://user:pw@registry.example.com/base:1"; break;
            default: throw new ArgumentException(rule);
        }
    }

    [Theory]
    [MemberData(nameof(BrokenRules))]
    public async Task A_manifest_breaking_a_rule_is_refused_by_every_reader_naming_the_field(string rule, string expected)
    {
        var manifest = await BuiltManifestAsync();
        var yaml = Altered(manifest, m => Break(m, rule));

        // What the store, import, pull and the runtime's start-up all call.
        var e = Assert.Throws<BentoException>(() => ManifestSerializer.FromYaml(yaml, "bento.yaml"));
        Assert.StartsWith("bento.yaml: " + expected, e.Message);
        Assert.DoesNotContain("ghp_secret", e.Message);

        // Import, end to end, of an archive whose manifest matches its version but breaks the rule.
        var archive = Temp.Combine($"crafted.bento");
        using (var file = File.Create(archive))
        using (var zstd = new CompressionStream(file, 3))
        using (var tar = new TarWriter(zstd, TarEntryFormat.Pax))
            tar.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, "bento.yaml") { DataStream = new MemoryStream(Encoding.UTF8.GetBytes(yaml)) });
        var other = new BentoStore(Temp.Combine("other"));
        var refused = await Assert.ThrowsAsync<BentoException>(() => BentoArchive.ImportAsync(other, archive));
        Assert.StartsWith($"{archive}:bento.yaml: {expected}", refused.Message);
        Assert.Empty(other.List());
    }

    [Fact]
    public async Task What_a_bentofile_may_say_at_its_bounds_builds_and_reads_back()
    {
        var dir = await ModelFixture.BuildDirectoryAsync(Temp, $"""
            name: bounds
            description: "{new string('d', (int)InputLimits.DescriptionBytes.Value)}"
            labels: {"{"}x: {new string('v', (int)InputLimits.LabelBytes.Value)}{"}"}
            envs: {"{"}A_1: x{"}"}
            runtime:
              max_model_len: 256
              max_num_seqs: 65536
              dtype: BF16
              gpu_memory_utilization: 1e-9
              port: 65535
              enforce_eager: {"{"}value: true, overridable: false, env: _X{"}"}
            docker: {"{"}base_image: "localhost:5000/base@sha256:{new string('a', 64)}"{"}"}
            """);
        var built = await BuildAsync(dir);
        var reloaded = Store.Load(built.Bento.Directory).Manifest;
        Assert.Equal("bfloat16", reloaded.Runtime.Dtype);
        Assert.Equal(65_536, reloaded.Runtime.MaxNumSeqs);
    }

    [Fact]
    public void Invalid_UTF8_in_a_bentofile_is_an_error_naming_line_and_column_not_a_replacement_character()
    {
        var path = Temp.Combine("bentofile.yaml");
        File.WriteAllBytes(path, [.. "name: m\ndescription: caf"u8, 0xE9, .. " au lait\n"u8]); // Latin-1 'é'
        var e = Assert.Throws<BentoException>(() => BentofileParser.Load(path));
        Assert.Equal($"{BentofileParser.DisplayPath(path)}:2:17: not valid UTF-8 (byte 0xE9 at offset 24); save the file as UTF-8", e.Message);

        // Multi-byte characters before it count as one column each; a file ending inside a sequence is caught too.
        File.WriteAllBytes(path, [.. "name: m\ndescription: ééé"u8, 0xC3]);
        Assert.EndsWith(":2:17: not valid UTF-8 (byte 0xC3 at offset 27); save the file as UTF-8", Assert.Throws<BentoException>(() => BentofileParser.Load(path)).Message);

        // Valid UTF-8 (with a byte order mark) still reads.
        File.WriteAllBytes(path, [0xEF, 0xBB, 0xBF, .. "name: m\ndescription: café\n"u8]);
        Assert.Equal("café", BentofileParser.Load(path).Description);
    }

    [Fact]
    public async Task Invalid_UTF8_in_an_archived_bento_yaml_is_named_as_such()
    {
        var manifest = await BuiltManifestAsync();
        var yaml = Encoding.UTF8.GetBytes(ManifestSerializer.ToYaml(manifest));
        var at = Array.IndexOf(yaml, (byte)'\n') + 1;
        yaml[at] = 0xFF;
        var archive = Temp.Combine("latin1.bento");
        using (var file = File.Create(archive))
        using (var zstd = new CompressionStream(file, 3))
        using (var tar = new TarWriter(zstd, TarEntryFormat.Pax))
            tar.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, "bento.yaml") { DataStream = new MemoryStream(yaml) });
        var e = await Assert.ThrowsAsync<BentoException>(() => BentoArchive.ImportAsync(new BentoStore(Temp.Combine("other")), archive));
        Assert.Equal($"{archive}:bento.yaml:2:1: not valid UTF-8 (byte 0xFF at offset {at}); save the file as UTF-8", e.Message);
    }
}
