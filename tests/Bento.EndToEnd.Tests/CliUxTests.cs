using System.Text.Json.Nodes;
using Bento.EndToEnd.Tests.Infrastructure;

namespace Bento.EndToEnd.Tests;

/// <summary>
/// The CLI as users expect it (issue 11, item 5), through the real launcher: pipes, directories, reproducible
/// archives, latest left alone by import, repair instead of "nothing to do", delete/list meanings, "did you mean",
/// help and shell completion.
/// </summary>
[Trait("Category", "Slow")]
public sealed class CliUxTests : EndToEndTest
{
    /// <summary>Runs a bash script with this test's store, from its working directory, with ./bento on PATH as <c>bento</c>.</summary>
    private Task<ProcessResult> ShellAsync(string script, string? home = null) =>
        ProcessRunner.RunAsync("bash", ["-c", "set -o pipefail\n" + script], Work, new Dictionary<string, string?>
        {
            ["BENTO_HOME"] = home ?? Home,
            ["PATH"] = $"{Path.GetDirectoryName(Repo.Launcher)}:{Environment.GetEnvironmentVariable("PATH")}",
            ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1",
            ["DOTNET_NOLOGO"] = "1",
            ["SOURCE_DATE_EPOCH"] = null,
        }, TimeSpan.FromMinutes(3));

    /// <summary>Builds the example copy, then a second version of it (a label edit: same blobs); returns both tags.</summary>
    private async Task<(string First, string Second, string Model)> TwoVersionsAsync()
    {
        var model = CopyExample();
        var first = await BuildAsync(model, "tiny-llama");
        var bentofile = Path.Combine(model, "bentofile.yaml");
        File.WriteAllText(bentofile, File.ReadAllText(bentofile).Replace("\nlabels:\n", "\nlabels:\n  team: ux\n", StringComparison.Ordinal));
        var second = await Bento("build", model);
        Assert.Contains("already stored", second.Stderr);   // the build summary's wording (was "alreadystored")
        Assert.DoesNotContain("alreadystored", second.Stderr);
        return (first, Cli.AssertTag(second, "tiny-llama"), model);
    }

    private async Task<string?> LatestAsync(string? home = null)
    {
        var list = Assert.IsType<JsonArray>(await JsonAsync(home, "list", "-o", "json"));
        return (string?)list.SingleOrDefault(e => (bool)e!["latest"]!)?["tag"];
    }

    [Fact]
    public async Task Export_ToStdout_PipesIntoImportFromStdin_AndIsByteIdenticalToAFileExport()
    {
        var tag = await BuildAsync(CopyExample(), "tiny-llama");
        var other = Temp.Combine("other-home");

        var r = await ShellAsync($"""
            bento export {tag} - > dash.bento 2> dash.err
            bento export {tag} /dev/stdout > devstdout.bento
            bento export {tag} file.bento > /dev/null
            bento export {tag} - | BENTO_HOME={other} bento import -
            """);

        Cli.AssertSuccess(r);
        Assert.Equal(tag, r.LastStdoutLine);
        var dash = File.ReadAllBytes(Path.Combine(Work, "dash.bento"));
        Assert.Equal([0x28, 0xB5, 0x2F, 0xFD], dash[..4]); // zstd's magic: nothing but the archive reached stdout
        Assert.Equal(File.ReadAllBytes(Path.Combine(Work, "file.bento")), dash); // two processes, same bytes
        Assert.Equal(dash, File.ReadAllBytes(Path.Combine(Work, "devstdout.bento")));
        Assert.DoesNotContain('\r', File.ReadAllText(Path.Combine(Work, "dash.err"))); // no progress without a terminal
        Assert.Contains($"Exported {tag} to stdout", File.ReadAllText(Path.Combine(Work, "dash.err")));
        Assert.False(File.Exists(Path.Combine(Work, "-.bento")));
        var verify = await BentoIn(other, "verify", tag);
        Cli.AssertSuccess(verify);
        Assert.Equal(tag, await LatestAsync(other));
    }

    [Fact]
    public async Task Export_ToADirectory_WritesNameVersionBentoInside()
    {
        var tag = await BuildAsync(CopyExample(), "tiny-llama");
        var expectedName = tag.Replace(':', '-') + ".bento";
        var dir = Temp.CreateDirectory("exports");

        var plain = await Bento("export", tag, dir);
        Cli.AssertSuccess(plain);
        Assert.Equal(Path.Combine(dir, expectedName), plain.LastStdoutLine);

        var slash = Temp.CreateDirectory("slash");
        var withSlash = await Bento("export", tag, slash + "/");
        Cli.AssertSuccess(withSlash);
        Assert.Equal(Path.Combine(slash, expectedName), withSlash.LastStdoutLine);
        Assert.False(File.Exists(Path.Combine(slash, ".bento")));
        Assert.Equal(File.ReadAllBytes(Path.Combine(dir, expectedName)), File.ReadAllBytes(Path.Combine(slash, expectedName)));

        Cli.AssertError(await Bento("export", tag, Temp.Combine("missing") + "/"), 1, "does not exist");
    }

    [Fact]
    public async Task Import_OfABentoAlreadyStored_DoesNotMoveLatest_SoDeleteLatestDeletesTheRightOne()
    {
        var (first, second, _) = await TwoVersionsAsync();
        var archive = Temp.Combine("first.bento");
        Cli.AssertSuccess(await Bento("export", first, archive));
        Assert.Equal(second, await LatestAsync());

        var import = await Bento("import", archive);
        Assert.Equal(first, Cli.AssertTag(import, "tiny-llama"));
        Assert.Contains("already in the store", import.Stderr);
        Assert.Equal(second, await LatestAsync());

        Cli.AssertSuccess(await Bento("delete", "tiny-llama:latest", "-y"));
        var left = Assert.IsType<JsonArray>(await JsonAsync(null, "list", "-o", "json"));
        Assert.Equal(first, (string?)Assert.Single(left)!["tag"]);
    }

    [Fact]
    public async Task Delete_NAME_DeletesEveryVersion_AfterConfirmation_AndTakesSeveralTags()
    {
        var (first, second, model) = await TwoVersionsAsync();
        var snapshot = Store.Snapshot();

        var refused = Cli.AssertError(await Bento("delete", "tiny-llama"), 2, "-y", first, second);
        Assert.Contains("2 bentos", refused);
        Assert.Equal(snapshot, Store.Snapshot());

        var deleted = await Bento("delete", "tiny-llama", "-y");
        Cli.AssertSuccess(deleted);
        Assert.Contains($"Deleted {first}", deleted.Stderr);
        Assert.Contains($"Deleted {second}", deleted.Stderr);
        await AssertStoreHoldsNoBentoAsync();

        // Several tags at once; one that matches nothing deletes nothing.
        var again1 = await BuildAsync(model, "tiny-llama");
        Cli.AssertError(await Bento("delete", again1, "nosuch", "-y"), 1, "nosuch", "not found");
        Assert.Single(Store.BentoDirectories());
        Cli.AssertSuccess(await Bento("delete", again1, "tiny-llama:latest", "-y"));
        await AssertStoreHoldsNoBentoAsync();
    }

    [Fact]
    public async Task List_FiltersByNamePrefixAndTag_QuietPrintsTags_AndJsonIsAnAlias()
    {
        var (first, second, _) = await TwoVersionsAsync();

        var prefix = await Bento("list", "tiny", "-q");
        Cli.AssertSuccess(prefix);
        Assert.Equal([second, first], prefix.StdoutLines.Where(l => l.Length > 0));

        var latest = await Bento("list", "tiny-llama:latest", "-q");
        Cli.AssertSuccess(latest);
        Assert.Equal([second], latest.StdoutLines.Where(l => l.Length > 0));

        var table = await Bento("list", "tiny-llama:" + first.Split(':')[1][..8]);
        Cli.AssertSuccess(table);
        Assert.Contains(table.StdoutLines, l => l.StartsWith(first, StringComparison.Ordinal));
        Assert.DoesNotContain(table.StdoutLines, l => l.StartsWith(second, StringComparison.Ordinal));

        Assert.Equal(2, Assert.IsType<JsonArray>(await JsonAsync(null, "list", "--json")).Count);
        Assert.Single(Assert.IsType<JsonArray>(await JsonAsync(null, "list", "tiny-llama:latest", "--json")));
        Assert.Equal(second.Split(':')[1], (string?)(await JsonAsync(null, "get", "tiny-llama", "--json"))["version"]);
        Cli.AssertError(await Bento("list", "--jsn"), 2, "unknown option '--jsn'", "did you mean '-o json'");
        Assert.Empty((await Bento("list", "other", "-q")).StdoutLines.Where(l => l.Length > 0));
    }

    [Theory]
    [InlineData(new[] { "bulid" }, "unknown command 'bulid'", "did you mean 'build'")]
    [InlineData(new[] { "expotr", "x" }, "unknown command 'expotr'", "did you mean 'export'")]
    [InlineData(new[] { "list", "--quite" }, "unknown option '--quite'", "did you mean '--quiet'")]
    [InlineData(new[] { "delete", "--yse", "x" }, "unknown option '--yse'", "did you mean '--yes'")]
    [InlineData(new[] { "export", "--fast", "tiny-llama", "out" }, "unknown option '--fast'", "bento export --help")]
    [InlineData(new[] { "verify", "--quik" }, "unknown option '--quik'", "bento verify --help")]
    public async Task UnknownCommandsAndOptions_GetADidYouMean_AndExit2(string[] args, string problem, string hint)
    {
        Cli.AssertError(await Bento(args), 2, problem, hint);
    }

    [Fact]
    public async Task Help_ShowsTheCommandsHelp_AndSuggestsForATypo()
    {
        var export = await Bento("help", "export");
        Cli.AssertSuccess(export);
        Assert.Contains("bento export <TAG> <DEST>", export.Stdout);
        Assert.Contains("'-' for stdout", export.Stdout);

        var all = await Bento("help");
        Cli.AssertSuccess(all);
        foreach (var command in new[] { "build", "list", "delete", "export", "import", "completion", "help" })
            Assert.Contains($"  {command}", all.Stdout);
        Assert.DoesNotContain("__complete", all.Stdout);

        Cli.AssertError(await Bento("help", "bulid"), 2, "did you mean 'build'");
    }

    [Fact]
    public async Task LoginHelp_NamesTheCommandsThatUseTheCredentials()
    {
        var help = await Bento("login", "--help");
        Cli.AssertSuccess(help);
        Assert.Contains("bento push", help.Stdout); // exists since issue 11
        Assert.Contains("containerize --push", help.Stdout);
    }

    [Fact]
    public async Task BashCompletion_CompletesCommandsOptionsAndStoreTags()
    {
        var tag = await BuildAsync(CopyExample(), "tiny-llama");
        var version = tag.Split(':')[1];

        // As bash calls the function: COMP_WORDS split at ':' (COMP_WORDBREAKS), COMP_LINE and COMP_POINT as typed.
        string Complete(string line, string words, int cword) => $$"""
            COMP_LINE='{{line}}'; COMP_POINT=${#COMP_LINE}; COMP_WORDS=({{words}}); COMP_CWORD={{cword}}
            _bento_complete; echo "[{{line}}]"; printf '%s\n' "${COMPREPLY[@]}"
            """;
        var r = await ShellAsync($"""
            source <(bento completion bash)
            complete -p bento
            {Complete("bento exp", "bento exp", 1)}
            {Complete("bento export tiny", "bento export tiny", 2)}
            {Complete("bento export tiny-llama:", "bento export tiny-llama :", 3)}
            {Complete("bento list --q", "bento list --q", 2)}
            """);

        Cli.AssertSuccess(r);
        List<string> After(string marker) => r.StdoutLines.SkipWhile(l => l != $"[{marker}]").Skip(1).TakeWhile(l => !l.StartsWith('[')).ToList();
        Assert.Contains("complete -o default -F _bento_complete bento", r.Stdout);
        Assert.Equal(["export"], After("bento exp"));
        Assert.Contains(tag, After("bento export tiny"));
        Assert.Contains("tiny-llama:latest", After("bento export tiny"));
        Assert.Contains("tiny-llama", After("bento export tiny"));
        // After the ':' bash replaces only the part after it.
        Assert.Equal(new[] { "latest", version }.Order(StringComparer.Ordinal), After("bento export tiny-llama:").Order(StringComparer.Ordinal));
        Assert.Equal(["--quiet"], After("bento list --q"));
    }

    [Fact]
    public async Task ZshAndFishCompletion_AskTheSameCompleter()
    {
        foreach (var shell in new[] { "zsh", "fish" })
        {
            var script = await Bento("completion", shell);
            Cli.AssertSuccess(script);
            Assert.Contains("__complete --", script.Stdout);
        }
        Cli.AssertError(await Bento("completion", "tcsh"), 2, "tcsh", "'bash' 'zsh' 'fish'");
        var direct = await Bento("__complete", "--", "bento del");
        Cli.AssertSuccess(direct);
        Assert.Equal(["delete"], direct.StdoutLines.Where(l => l.Length > 0));
    }

    [Fact]
    public async Task Export_RefusesACorruptBento_AndBuildRepairsIt()
    {
        var model = CopyExample();
        var tag = await BuildAsync(model, "tiny-llama");
        var bentoDir = (await Bento("get", tag, "-o", "path")).LastStdoutLine;
        // Damage the stored tokenizer.json without touching the model folder: a new inode for blob and link.
        var stored = Path.Combine(bentoDir, "model", "tokenizer.json");
        var blob = Path.Combine(Store.BlobsDirectory, Sha256Of(stored));
        var bytes = File.ReadAllBytes(blob);
        bytes[10] ^= 0x20;
        File.Delete(blob);
        File.Delete(stored);
        File.WriteAllBytes(blob, bytes);
        File.Copy(blob, stored);
        var verify = await Bento("verify", tag);
        Assert.Equal(1, verify.ExitCode);
        Assert.Contains("rebuild", verify.Stderr);

        var target = Temp.Combine("out.bento");
        Cli.AssertError(await Bento("export", tag, target), 1, "corrupt", "model/tokenizer.json", "bento build");
        Assert.Empty(Directory.GetFiles(Temp.Path, "out.bento*"));
        var piped = await ShellAsync($"bento export {tag} - > piped.bento");
        Assert.Equal(1, piped.ExitCode);
        Assert.Equal(0, new FileInfo(Path.Combine(Work, "piped.bento")).Length); // refused before the first byte

        var rebuild = await Bento("build", model);
        Assert.Equal(tag, Cli.AssertTag(rebuild, "tiny-llama"));
        Assert.Contains($"Repaired {tag}", rebuild.Stderr);
        Assert.DoesNotContain("nothing to do", rebuild.Stderr);
        Cli.AssertSuccess(await Bento("verify", tag));
        Cli.AssertSuccess(await Bento("export", tag, target));
        Assert.Contains("nothing to do", (await Bento("build", model)).Stderr);
    }

    [Fact]
    public async Task Import_RepairsADamagedBento_FromAGoodArchive()
    {
        var tag = await BuildAsync(CopyExample(), "tiny-llama");
        var archive = Temp.Combine("good.bento");
        Cli.AssertSuccess(await Bento("export", tag, archive));
        var bentoDir = (await Bento("get", tag, "-o", "path")).LastStdoutLine;
        var stored = Path.Combine(bentoDir, "model", "config.json");
        var blob = Path.Combine(Store.BlobsDirectory, Sha256Of(stored));
        File.Delete(blob);
        Assert.Equal(1, (await Bento("verify", tag)).ExitCode);

        var import = await ShellAsync($"bento import - < {archive}");
        Cli.AssertSuccess(import);
        Assert.Equal(tag, import.LastStdoutLine);
        Assert.Contains("repaired", import.Stderr);
        Cli.AssertSuccess(await Bento("verify", tag));
    }
}
