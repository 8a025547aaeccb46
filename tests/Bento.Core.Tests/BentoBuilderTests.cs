using Bento.Core.Serving;
using Bento.Core.IO;
using Bento.Core.Manifest;
using Bento.Core.Store;

namespace Bento.Core.Tests;

public class BentoBuilderTests : StoreTestBase
{
    [Fact]
    public async Task Build_stores_a_bento_with_a_complete_manifest()
    {
        var dir = await ModelFixture.BuildDirectoryAsync(Temp, """
            name: fixture
            labels: {team: ml}
            include: ["notes/*.md"]
            runtime:
              enforce_eager: {value: true, overridable: false}
            """);
        Temp.Write("project/notes/a.md", "hello");
        Temp.Write("project/notes/b.txt", "not included");

        var result = await BuildAsync(dir);

        Assert.True(result.Created);
        var m = result.Manifest;
        Assert.Equal(1, m.Schema);
        Assert.Equal("fixture", m.Name);
        Assert.Equal(ManifestVersion.Length, m.Version.Length);
        Assert.Equal("ml", m.Labels["team"]);
        Assert.Equal("LlamaForCausalLM", m.Model.Architecture);
        Assert.True(m.Model.Parameters > 0);
        Assert.Contains(m.Model.Files, f => f.Path == "model.safetensors" && f.Size == new FileInfo(Path.Combine(dir, "model.safetensors")).Length);
        Assert.Contains(m.Model.Files, f => f.Path == "config.json");
        Assert.Contains(m.Model.Files, f => f.Path == "tokenizer.json");
        Assert.Equal(["notes/a.md"], m.Files.Select(f => f.Path));
        Assert.Equal(EagerMode.True, m.Runtime.EnforceEager.Value);
        Assert.False(m.Runtime.EnforceEager.Overridable);
        Assert.Equal("BENTO_ENFORCE_EAGER", m.Runtime.EnforceEager.Env);
        Assert.Equal(256, m.Runtime.MaxModelLen);
        Assert.Equal(3000, m.Runtime.Port);

        var sha = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(Path.Combine(dir, "model.safetensors"))));
        Assert.Equal(sha, m.Model.Files.Single(f => f.Path == "model.safetensors").Sha256);
        Assert.True(File.Exists(Path.Combine(result.Bento.Directory, "model", "model.safetensors")));
        Assert.Equal("hello", File.ReadAllText(Path.Combine(result.Bento.Directory, "src", "notes", "a.md")));

        // What is on disk reads back to the same manifest.
        var reloaded = Store.Load(result.Bento.Directory).Manifest;
        Assert.Equal(ManifestSerializer.ToJson(m), ManifestSerializer.ToJson(reloaded));
        Assert.True(ManifestVersion.Matches(reloaded));
    }

    /// <summary>
    /// enforce_eager auto reaches the manifest as the string "auto", survives its YAML round trip, while true/false stay
    /// JSON booleans: manifests written before auto existed keep their canonical JSON, hence their version.
    /// </summary>
    [Fact]
    public async Task Enforce_eager_auto_is_stored_as_auto_and_booleans_stay_booleans()
    {
        var dir = await ModelFixture.BuildDirectoryAsync(Temp, "name: fixture\nruntime:\n  enforce_eager: auto\n");
        var m = (await BuildAsync(dir)).Manifest;
        Assert.Equal(EagerMode.Auto, m.Runtime.EnforceEager.Value);
        var yaml = ManifestSerializer.ToYaml(m);
        Assert.Contains("value: auto", yaml);
        Assert.Equal(EagerMode.Auto, ManifestSerializer.FromYaml(yaml, "bento.yaml").Runtime.EnforceEager.Value);

        m.Runtime.EnforceEager.Value = EagerMode.False;
        Assert.Equal(System.Text.Json.JsonValueKind.False, ManifestSerializer.ToJsonNode(m)["runtime"]!["enforce_eager"]!["value"]!.GetValueKind());
        m.Runtime.EnforceEager.Value = EagerMode.True;
        Assert.Equal(EagerMode.True, ManifestSerializer.FromYaml(ManifestSerializer.ToYaml(m), "bento.yaml").Runtime.EnforceEager.Value);
    }

    [Fact]
    public async Task Weights_are_hard_linked_not_copied()
    {
        var dir = await ModelFixture.BuildDirectoryAsync(Temp);
        var result = await BuildAsync(dir);
        var source = Posix.Identify(Path.Combine(dir, "model.safetensors"));
        var inBento = Posix.Identify(Path.Combine(result.Bento.Directory, "model", "model.safetensors"));
        var sha = result.Manifest.Model.Files.Single(f => f.Path == "model.safetensors").Sha256;
        var blob = Posix.Identify(Store.BlobPath(sha));
        Assert.Equal(source.Inode, blob.Inode);
        Assert.Equal(source.Inode, inBento.Inode);
        Assert.Equal(3u, source.LinkCount);
        Assert.Equal(IngestMethod.HardLink, Assert.Single(result.Ingest, kv => kv.Value > 0).Key);
    }

    [Fact]
    public async Task Same_inputs_give_the_same_version_and_a_rebuild_is_a_no_op()
    {
        var dir = await ModelFixture.BuildDirectoryAsync(Temp);
        var first = await BuildAsync(dir);
        var second = await BuildAsync(dir);
        Assert.False(second.Created);
        Assert.Equal(first.Manifest.Version, second.Manifest.Version);
        Assert.Equal(first.Manifest.Created, second.Manifest.Created);
        Assert.Single(Store.List());

        // Another store, another copy of the same files, another time: same version.
        var otherStore = new BentoStore(Temp.Combine("store2"));
        var otherDir = await ModelFixture.BuildDirectoryAsync(Temp, sub: "elsewhere");
        var third = await new Build.BentoBuilder(otherStore).BuildAsync(Path.Combine(otherDir, "bentofile.yaml"));
        Assert.True(third.Created);
        Assert.Equal(first.Manifest.Version, third.Manifest.Version);
    }

    [Fact]
    public async Task Config_only_rebuild_rehashes_no_file_and_gets_a_new_version()
    {
        var dir = await ModelFixture.BuildDirectoryAsync(Temp);
        var first = await BuildAsync(dir);
        Assert.True(first.FilesHashed >= 3);
        File.WriteAllText(Path.Combine(dir, "bentofile.yaml"), "name: fixture\nruntime:\n  enforce_eager: true\n");
        var second = await BuildAsync(dir);
        Assert.Equal(0, second.FilesHashed);
        Assert.Equal(first.FilesHashed, second.FilesFromCache);
        Assert.NotEqual(first.Manifest.Version, second.Manifest.Version);
        Assert.Equal(EagerMode.True, second.Manifest.Runtime.EnforceEager.Value);
        Assert.Equal(2, Store.List().Count());
        Assert.Equal(second.Manifest.Version, Store.Resolve(BentoTag.Parse("fixture")).Manifest.Version);
    }

    [Fact]
    public async Task Editing_a_weight_file_changes_the_hash_even_with_the_cache()
    {
        var dir = await ModelFixture.BuildDirectoryAsync(Temp);
        var first = await BuildAsync(dir);
        // Replace the file (new inode) as editors and downloaders do; same size, other bytes.
        var weights = Path.Combine(dir, "model.safetensors");
        var bytes = File.ReadAllBytes(weights);
        bytes[^1] ^= 0xFF;
        File.Delete(weights);
        File.WriteAllBytes(weights, bytes);
        var second = await BuildAsync(dir);
        Assert.Equal(1, second.FilesHashed);
        Assert.NotEqual(first.Manifest.Version, second.Manifest.Version);
    }

    [Fact]
    public async Task Sharded_checkpoints_are_accepted()
    {
        var dir = await ModelFixture.BuildDirectoryAsync(Temp, sharded: true);
        var result = await BuildAsync(dir);
        var names = result.Manifest.Model.Files.Select(f => f.Path).ToList();
        Assert.Contains("model.safetensors.index.json", names);
        Assert.Equal(2, names.Count(n => n.EndsWith(".safetensors", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task Tags_resolve_by_name_latest_version_and_unique_prefix()
    {
        var dir = await ModelFixture.BuildDirectoryAsync(Temp);
        var a = (await BuildAsync(dir)).Manifest.Version;
        File.WriteAllText(Path.Combine(dir, "bentofile.yaml"), "name: fixture\ndescription: second\n");
        var b = (await BuildAsync(dir)).Manifest.Version;

        Assert.Equal(b, Store.Resolve(BentoTag.Parse("fixture")).Manifest.Version);
        Assert.Equal(b, Store.Resolve(BentoTag.Parse("fixture:latest")).Manifest.Version);
        Assert.Equal(a, Store.Resolve(BentoTag.Parse($"fixture:{a}")).Manifest.Version);
        var prefix = a[..Enumerable.Range(1, a.Length).First(n => !b.StartsWith(a[..n], StringComparison.Ordinal))];
        Assert.Equal(a, Store.Resolve(BentoTag.Parse($"fixture:{prefix}")).Manifest.Version);

        var unknown = Assert.Throws<BentoException>(() => Store.Resolve(BentoTag.Parse("fixture:ffffffffffffffff")));
        Assert.Contains("not found", unknown.Message);
        var misspelt = Assert.Throws<BentoException>(() => Store.Resolve(BentoTag.Parse("fixtur")));
        Assert.Contains("did you mean 'fixture'", misspelt.Message);
    }

    [Fact]
    public async Task Ambiguous_prefix_is_an_error_listing_the_candidates()
    {
        var dir = await ModelFixture.BuildDirectoryAsync(Temp);
        var versions = new List<string>();
        for (var i = 0; versions.Select(v => v[0]).Distinct().Count() == versions.Count && i < 40; i++)
        {
            File.WriteAllText(Path.Combine(dir, "bentofile.yaml"), $"name: fixture\ndescription: v{i}\n");
            versions.Add((await BuildAsync(dir)).Manifest.Version);
        }
        var shared = versions.GroupBy(v => v[0]).First(g => g.Count() > 1).Key;
        var e = Assert.Throws<BentoException>(() => Store.Resolve(BentoTag.Parse($"fixture:{shared}")));
        Assert.Contains("ambiguous", e.Message);
    }

    [Fact]
    public async Task Concurrent_builds_of_the_same_inputs_agree_and_leave_one_bento()
    {
        var dir = await ModelFixture.BuildDirectoryAsync(Temp);
        var builds = Enumerable.Range(0, 4).Select(_ => Task.Run(() => new Build.BentoBuilder(new BentoStore(Store.Root)).BuildAsync(Path.Combine(dir, "bentofile.yaml"))));
        var results = await Task.WhenAll(builds);
        Assert.Single(results.Select(r => r.Manifest.Version).Distinct());
        Assert.Equal(1, results.Count(r => r.Created));
        Assert.Single(Store.List());
        Assert.Empty(await new StoreVerifier(Store).VerifyAsync(Store.List()));
        Assert.Empty(Directory.EnumerateFileSystemEntries(Store.TempDirectory));
    }

    [Fact]
    public async Task A_failed_commit_leaves_no_bento_no_blob_and_no_temp_files()
    {
        var dir = await ModelFixture.BuildDirectoryAsync(Temp);
        Store.EnsureCreated();
        // A file where the bento's name directory must go makes the final rename fail.
        File.WriteAllText(Path.Combine(Store.BentosDirectory, "fixture"), "in the way");
        var e = await Assert.ThrowsAsync<BentoException>(() => BuildAsync(dir));
        Assert.Contains("in the store", e.Message);
        Assert.Equal(["bentos/fixture"], StoreContents());
    }

    [Fact]
    public async Task Invalid_model_fails_before_touching_the_store()
    {
        var dir = await ModelFixture.BuildDirectoryAsync(Temp);
        File.Delete(Path.Combine(dir, "tokenizer.json"));
        var e = await Assert.ThrowsAsync<BentoException>(() => BuildAsync(dir));
        Assert.Contains("tokenizer.json: missing", e.Message);
        Assert.Empty(StoreContents());
    }

    [Fact]
    public async Task Bentoignore_and_default_excludes_keep_files_out()
    {
        var dir = await ModelFixture.BuildDirectoryAsync(Temp);
        Temp.Write("project/README.md", "readme");
        Temp.Write("project/secret.env", "x");
        Temp.Write("project/.git/config", "x");
        Temp.Write("project/pytorch_model.bin", "x");
        Temp.Write("project/.bentoignore", "# comment\n*.env\n");
        var m = (await BuildAsync(dir)).Manifest;
        Assert.Equal(["README.md"], m.Files.Select(f => f.Path));
    }

    [Fact]
    public void Source_date_epoch_fixes_the_created_time()
    {
        // CreatedTimestamp reads the variable; set it only around the call (tests in other classes build in parallel).
        lock (EnvironmentLock)
        {
            Environment.SetEnvironmentVariable("SOURCE_DATE_EPOCH", "1700000000");
            try { Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(1700000000), Build.BentoBuilder.CreatedTimestamp()); }
            finally { Environment.SetEnvironmentVariable("SOURCE_DATE_EPOCH", null); }
        }
        Assert.NotEqual(DateTimeOffset.FromUnixTimeSeconds(1700000000), Build.BentoBuilder.CreatedTimestamp());
    }

    [Fact]
    public async Task The_clock_sets_created_but_not_the_version()
    {
        var dir = await ModelFixture.BuildDirectoryAsync(Temp);
        var at = DateTimeOffset.FromUnixTimeSeconds(1_600_000_000);
        var m = (await new Build.BentoBuilder(Store, clock: () => at).BuildAsync(Path.Combine(dir, "bentofile.yaml"))).Manifest;
        Assert.Equal(at, m.Created);
        var other = new BentoStore(Temp.Combine("store-b"));
        var m2 = (await new Build.BentoBuilder(other, clock: () => at.AddDays(3)).BuildAsync(Path.Combine(dir, "bentofile.yaml"))).Manifest;
        Assert.Equal(m.Version, m2.Version);
    }

    private static readonly object EnvironmentLock = new();
}
