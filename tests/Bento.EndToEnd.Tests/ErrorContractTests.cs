using Bento.EndToEnd.Tests.Infrastructure;

namespace Bento.EndToEnd.Tests;

/// <summary>
/// The error contract: one <c>error: …</c> line on stderr, exit 1 (2 for usage errors), no stack trace unless
/// <c>--verbose</c>; and a failed command leaves no bento and no blob behind.
/// </summary>
[Trait("Category", "Slow")]
public sealed class ErrorContractTests : EndToEndTest
{
    /// <summary>Case name → (bentofile.yaml, expected location, other texts the error line must contain).</summary>
    private static readonly Dictionary<string, (string Bentofile, string Location, string[] Mentions)> BadBentofiles = new()
    {
        ["invalid-yaml"] = ("name: broken\nlabels: [owner\n", "bentofile.yaml:3:1:", ["invalid YAML"]),
        ["enforce-eager-maybe"] = ("name: eager\nruntime:\n  enforce_eager: maybe\n", "bentofile.yaml:3:18:", ["runtime.enforce_eager", "maybe", "true, false or auto"]),
        ["unknown-key"] = ("name: typo\nlabls:\n  owner: me\n", "bentofile.yaml:2:1:", ["labls", "did you mean 'labels'"]),
        ["missing-model-folder"] = ("name: nomodel\nmodel: ./no-such-model\n", "bentofile.yaml:2:8:", ["./no-such-model", "does not exist"]),
    };

    public static TheoryData<string> BadBentofileCases => new(BadBentofiles.Keys);

    private string ProjectWith(string bentofile)
    {
        var dir = CopyExample("project"); // a valid model, so only the bentofile is wrong
        File.WriteAllText(Path.Combine(dir, "bentofile.yaml"), bentofile);
        return dir;
    }

    [Theory]
    [MemberData(nameof(BadBentofileCases))]
    public async Task Build_WithABadBentofile_FailsWithOneLocatedLine_AndStoresNothing(string caseName)
    {
        var (bentofile, location, mentions) = BadBentofiles[caseName];
        var dir = ProjectWith(bentofile);

        var r = await Bento("build", dir);

        Cli.AssertError(r, 1, [location, .. mentions]);
        Assert.Empty(r.StdoutLines);
        await AssertStoreHoldsNoBentoAsync();
    }

    [Fact]
    public async Task Build_WithABadBentofile_AndVerbose_PrintsTheStackTrace()
    {
        var dir = ProjectWith(BadBentofiles["enforce-eager-maybe"].Bentofile);

        var r = await Bento("build", dir, "--verbose");

        Assert.False(r.TimedOut, r.ToString());
        Assert.True(r.ExitCode == 1, $"expected exit code 1:\n{r}");
        Assert.StartsWith("error: ", r.StderrLines[0]);
        Assert.Contains("bentofile.yaml:3:18:", r.StderrLines[0]);
        Assert.True(r.Stderr.Contains("   at ", StringComparison.Ordinal), $"--verbose should print a stack trace:\n{r}");
        await AssertStoreHoldsNoBentoAsync();
    }

    [Fact]
    public async Task Build_OfAFolderWithoutBentofile_Fails()
    {
        var dir = Temp.CreateDirectory("empty");
        Cli.AssertError(await Bento("build", dir), 1, "no bentofile.yaml");
        Cli.AssertError(await Bento("build", Temp.Combine("does-not-exist")), 1, "no such file or directory");
        await AssertStoreHoldsNoBentoAsync();
    }

    [Fact]
    public async Task Get_WithAnInvalidTag_IsAUsageError()
    {
        Cli.AssertError(await Bento("get", "Bad Tag!"), 2, "invalid tag", "Bad Tag!");
        await AssertStoreHoldsNoBentoAsync();
    }

    [Fact]
    public async Task Get_OfAnUnknownBento_IsNotFound()
    {
        Cli.AssertError(await Bento("get", "nosuch"), 1, "not found", "nosuch");
        Cli.AssertError(await Bento("get", "nosuch:0123456789abcdef", "-o", "json"), 1, "not found");
        await AssertStoreHoldsNoBentoAsync();
    }

    public static TheoryData<string[], int, string> FailingCommands => new()
    {
        { new[] { "delete", "nosuch", "-y" }, 1, "not found" },
        { new[] { "delete", "Bad!", "-y" }, 2, "invalid tag" },
        { new[] { "export", "nosuch", "out.bento" }, 1, "not found" },
        { new[] { "import", "nosuch.bento" }, 1, "no such file" },
        { new[] { "verify", "nosuch" }, 1, "not found" },
        { new[] { "list", "Bad!" }, 2, "invalid tag" },
        { new[] { "new", "Bad!" }, 2, "invalid bento name" },
    };

    [Theory]
    [MemberData(nameof(FailingCommands))]
    public async Task OtherCommands_FailWithOneLine_AndTheRightExitCode(string[] args, int exitCode, string mention)
    {
        Cli.AssertError(await Bento(args), exitCode, mention);
        Assert.Empty(Directory.GetFileSystemEntries(Work)); // nothing written where it ran ('new' included)
        await AssertStoreHoldsNoBentoAsync();
    }

    public static TheoryData<string[]> UnknownOptions => new()
    {
        new[] { "--bogus" },
        new[] { "get", "tiny-llama", "--bogus" },
        new[] { "list", "-o", "xml" },
        new[] { "build", "PROJECT", "--bogus" },
        new[] { "build", "--bogus" },
    };

    [Theory]
    [MemberData(nameof(UnknownOptions))]
    public async Task UnknownOptions_AreUsageErrors_AndChangeNothing(string[] args)
    {
        var dir = CopyExample("project");
        var r = await Bento(args.Select(a => a == "PROJECT" ? dir : a).ToArray());

        Assert.False(r.TimedOut, r.ToString());
        Assert.True(r.ExitCode == 2, $"expected exit code 2 (usage error):\n{r}");
        Cli.AssertNoStackTrace(r);
        Assert.StartsWith("error: ", r.StderrLines.FirstOrDefault() ?? "");
        Assert.Empty(r.StdoutLines);
        await AssertStoreHoldsNoBentoAsync();
    }
}
