using System.Formats.Tar;
using System.Text;
using System.Text.Json.Nodes;
using Bento.EndToEnd.Tests.Infrastructure;
using static Bento.TestSupport.HostileFiles;

namespace Bento.EndToEnd.Tests;

/// <summary>
/// Every crafted input of the hostile-input report, generated here and fed to the real <c>./bento</c>: each ends in
/// one clear error line and exit code 1, within seconds, with the store exactly as it was, and the CLI's peak
/// resident memory (GNU time) under 200 MB — where the same inputs used to take 6 GB, overflow the stack, or hang.
/// </summary>
[Trait("Category", "Slow")]
public sealed class HostileInputCliTests : EndToEndTest
{
    private const long PeakRssBound = 200L << 20;

    /// <summary>A copy of the example project whose bentofile.yaml is <paramref name="bentofile"/> (null: the example's).</summary>
    private string Project(string? bentofile = null)
    {
        var project = CopyExample("project");
        if (bentofile is not null) File.WriteAllText(Path.Combine(project, "bentofile.yaml"), bentofile);
        return project;
    }

    private string EditConfig(string project, Action<JsonObject> edit)
    {
        var path = Path.Combine(project, "config.json");
        var config = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        edit(config);
        File.WriteAllText(path, config.ToJsonString());
        return project;
    }

    /// <summary>A .bento holding one bento.yaml with <paramref name="yaml"/> (stored zstd blocks, no compression needed).</summary>
    private string ArchiveWithManifest(string yaml)
    {
        var tar = new MemoryStream();
        using (var writer = new TarWriter(tar, TarEntryFormat.Pax, leaveOpen: true))
            writer.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, "bento.yaml") { DataStream = new MemoryStream(Encoding.UTF8.GetBytes(yaml)) });
        var path = Temp.Combine("crafted.bento");
        using var file = File.Create(path);
        WriteZstdFrame(file, tar.ToArray(), 0);
        return path;
    }

    private string ArchiveOfHeader(byte[] header, long zeros)
    {
        var path = Temp.Combine("crafted.bento");
        using var file = File.Create(path);
        WriteZstdFrame(file, header, zeros);
        return path;
    }

    /// <summary>The command line for one case, with the input it needs crafted in this test's directory.</summary>
    private string[] Arrange(string name) => name switch
    {
        "bentofile billion laughs" => ["build", Project(BillionLaughs("name: bomb\n"))],
        "bentofile nested 100000 deep" => ["build", Project("name: deep\nlabels: " + new string('[', 100_000) + new string(']', 100_000) + "\n")],
        "bentofile recursive alias" => ["build", Project("name: loop\nlabels: &a {a: *a}\n")],
        "bentofile 20 MiB description" => ["build", Project($"name: big\ndescription: {new string('d', 20 << 20)}\n")],
        "bentofile 1 MiB description" => ["build", Project($"name: big\ndescription: {new string('d', 1 << 20)}\n")],
        "bentofile 1 MiB label" => ["build", Project($"name: big\nlabels: {{notes: {new string('l', 1 << 20)}}}\n")],
        "bentofile invalid UTF-8" => ["build", WriteBytes(Project(), "bentofile.yaml", [.. "name: latin\ndescription: caf"u8, 0xE9, (byte)'\n'])],
        "bentofile on /dev/zero" => ["build", LinkBentofileToDevZero(Project())],
        "config.json num_hidden_layers 2^31-1" => ["build", EditConfig(Project(), c => c["num_hidden_layers"] = int.MaxValue)],
        "config.json max_position_embeddings -5" => ["build", EditConfig(Project(), c => c["max_position_embeddings"] = -5)],
        "model file a FIFO" => ["build", Fifo(Project(), "model.safetensors")],
        "config.json a link to /dev/zero" => ["build", DevZero(Project(), "config.json")],
        "safetensors header of 1 GiB" => ["build", HugeHeader(Project())],
        "build-folder link outside" => ["build", LinkOutside(Project("name: linked\ninclude: ['*.md']\n"))],
        "archive GNU long name of 1000 MB" => ["import", ArchiveOfHeader(TarHeader("././@LongLink", 'L', 1000L << 20, gnu: true), 1000L << 20)],
        "archive PAX header of 1.5 GB" => ["import", ArchiveOfHeader(TarHeader("PaxHeaders/bento.yaml", 'x', 1_500_000_000), 1_500_000_000)],
        "archive bento.yaml recursive alias" => ["import", ArchiveWithManifest("x: &a [*a]\n")],
        "archive bento.yaml billion laughs" => ["import", ArchiveWithManifest(BillionLaughs("schema: 1\n"))],
        "archive a FIFO" => ["import", Fifo(Temp.Path, "pipe.bento", returnFile: true)],
        _ => throw new ArgumentException(name),
    };

    public static TheoryData<string, string> Cases() => new()
    {
        { "bentofile billion laughs", "nodes allowed once aliases are expanded" },
        { "bentofile nested 100000 deep", "nested deeper than the 64-level limit" },
        { "bentofile recursive alias", "recursive alias" },
        { "bentofile 20 MiB description", "20 MiB (20971544 bytes) exceeds the 16 MiB limit for bentofile.yaml" },
        { "bentofile 1 MiB description", "description: 1 MiB (1048576 bytes) exceeds the 64 KiB limit" },
        { "bentofile 1 MiB label", "over the 16 KiB limit" },
        { "bentofile invalid UTF-8", "bentofile.yaml:2:17: not valid UTF-8 (byte 0xE9" },
        { "bentofile on /dev/zero", "not a regular file" },
        { "config.json num_hidden_layers 2^31-1", "num_hidden_layers: 2147483647 is out of range" },
        { "config.json max_position_embeddings -5", "max_position_embeddings: -5 is out of range" },
        { "model file a FIFO", "model.safetensors: not a regular file" },
        { "config.json a link to /dev/zero", "config.json: not a regular file" },
        { "safetensors header of 1 GiB", "limit for a safetensors header" },
        { "build-folder link outside", "which is outside the build folder" },
        { "archive GNU long name of 1000 MB", "GNU long name of 1000 MiB" },
        { "archive PAX header of 1.5 GB", "PAX extended header of 1.4 GiB" },
        { "archive bento.yaml recursive alias", "recursive alias" },
        { "archive bento.yaml billion laughs", "nodes allowed once aliases are expanded" },
        { "archive a FIFO", "not a regular file" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Is_refused_clearly_in_bounded_time_and_memory_leaving_the_store_untouched(string name, string expected)
    {
        // A store with a bento in it, so "untouched" means something.
        await BuildAsync(CopyExample("existing"), "tiny-llama");
        var before = Store.Snapshot();
        var args = Arrange(name);

        var (result, peak) = await BentoCli.RunMeasuredAsync(args, new CliOptions { Home = Home, WorkingDirectory = Work, Timeout = TimeSpan.FromSeconds(60) });

        Cli.AssertError(result, 1, expected);
        Assert.True(result.Elapsed < TimeSpan.FromSeconds(30), $"took {result.Elapsed}:\n{result}");
        Assert.True(peak is > 0 and < PeakRssBound, $"peak RSS {peak >> 20} MiB (bound {PeakRssBound >> 20} MiB):\n{result}");
        Assert.Equal(before, Store.Snapshot());
    }

    private static string WriteBytes(string project, string file, byte[] bytes)
    {
        File.WriteAllBytes(Path.Combine(project, file), bytes);
        return project;
    }

    private static string LinkBentofileToDevZero(string project)
    {
        LinkToDevZero(Path.Combine(project, "bentofile.yaml"));
        return project;
    }

    private static string Fifo(string folder, string file, bool returnFile = false)
    {
        MakeFifo(Path.Combine(folder, file));
        return returnFile ? Path.Combine(folder, file) : folder;
    }

    private static string DevZero(string project, string file)
    {
        LinkToDevZero(Path.Combine(project, file));
        return project;
    }

    /// <summary>A safetensors file whose header length says 1 GiB (sparse, so long enough to hold it).</summary>
    private static string HugeHeader(string project)
    {
        var path = Path.Combine(project, "model.safetensors");
        MakeSparse(path, 2L << 30);
        using var file = new FileStream(path, FileMode.Open, FileAccess.Write);
        file.Write(BitConverter.GetBytes(1L << 30));
        return project;
    }

    private string LinkOutside(string project)
    {
        var secret = Temp.Combine("secret.md");
        File.WriteAllText(secret, "not for publishing");
        File.CreateSymbolicLink(Path.Combine(project, "notes.md"), secret);
        return project;
    }
}
