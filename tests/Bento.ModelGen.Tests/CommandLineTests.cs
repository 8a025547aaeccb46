namespace Bento.ModelGen.Tests;

public class CommandLineTests
{
    [Theory]
    [InlineData("")]
    [InlineData("bogus out")]
    [InlineData("tiny-llama")]
    [InlineData("tiny-llama a b")]
    [InlineData("random")]
    [InlineData("random out --dtype float64")]
    [InlineData("random out --hidden -3")]
    [InlineData("random out --hidden")]
    [InlineData("random out --target-bytes lots")]
    [InlineData("random out --heads 3")]              // 512 is not a multiple of 3
    [InlineData("random out --kv-heads 3")]           // 8 heads are not a multiple of 3
    [InlineData("random out --vocab 100")]
    [InlineData("random out --frobnicate")]
    [InlineData("random out other")]
    [InlineData("random out --family gemma")]
    [InlineData("random out --head-dim 0")]
    [InlineData("random out --like gemma-7b")]
    [InlineData("random out --like")]
    [InlineData("random out --sliding-window 0")]
    [InlineData("random out --like phi-4-mini-instruct --hidden 64 --heads 4 --head-dim 10")] // 10 x 0.75 leaves 7 rotated dims
    public void BadArgumentsAreUsageErrors(string commandLine) =>
        Assert.Throws<UsageException>(() => CommandLine.Parse(commandLine.Split(' ', StringSplitOptions.RemoveEmptyEntries)));

    [Fact]
    public void RandomOptionsAreParsed()
    {
        var (outDir, build) = CommandLine.Parse(["random", "out", "--hidden", "64", "--intermediate", "96", "--heads", "4", "--kv-heads", "2",
            "--layers", "3", "--vocab", "600", "--tied", "--dtype", "float16", "--shards", "2", "--seed", "7", "--max-position", "128"]);
        Assert.Equal("out", outDir);
        var options = build();
        var c = options.Config;
        Assert.Equal((64, 96, 4, 2, 3, 600, true, "float16", 128), (c.HiddenSize, c.IntermediateSize, c.NumAttentionHeads, c.NumKeyValueHeads, c.NumHiddenLayers, c.VocabSize, c.TieWordEmbeddings, c.TorchDtype, c.MaxPositionEmbeddings));
        Assert.Equal((2, 7UL), (options.ShardCount, options.Seed));
    }

    [Theory]
    [InlineData("1GiB", 1L << 30)]
    [InlineData("512MiB", 512L << 20)]
    [InlineData("512 mib", 512L << 20)]
    [InlineData("300MB", 300_000_000L)]
    [InlineData("1.5G", 3L << 29)]
    [InlineData("4096", 4096L)]
    [InlineData("10KiB", 10240L)]
    public void SizesParse(string text, long expected)
    {
        Assert.True(ByteSize.TryParse(text, out var bytes));
        Assert.Equal(expected, bytes);
    }

    [Theory]
    [InlineData("")]
    [InlineData("GiB")]
    [InlineData("-1GiB")]
    [InlineData("1XB")]
    [InlineData("0")]
    public void BadSizesDoNotParse(string text) => Assert.False(ByteSize.TryParse(text, out _));

    [Fact]
    public async Task ExecutableReportsUsageErrorsWithExitCodeTwoAndGeneratesWithZero()
    {
        using var dir = new TempDirectory();
        var (code, stdout, stderr) = await RunAsync("random");
        Assert.Equal(2, code);
        Assert.Contains("usage:", stderr);
        Assert.Empty(stdout);

        var outDir = dir.Combine("model");
        (code, stdout, stderr) = await RunAsync("random", outDir, "--hidden", "32", "--intermediate", "64", "--heads", "2", "--kv-heads", "1", "--shards", "2");
        Assert.True(code == 0, stderr);
        Assert.Contains($"output: {outDir}", stdout);
        var total = Directory.EnumerateFiles(outDir).Sum(f => new FileInfo(f).Length);
        Assert.Contains($"total_bytes: {total}", stdout);
    }

    private static async Task<(int Code, string Stdout, string Stderr)> RunAsync(params string[] args)
    {
        // Run the real bento-modelgen.dll that the test project copies next to itself.
        var r = await ProcessRunner.RunAsync("dotnet", [typeof(ModelFolderGenerator).Assembly.Location, .. args], Environment.CurrentDirectory);
        return (r.ExitCode, r.Stdout, r.Stderr);
    }
}
