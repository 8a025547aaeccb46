using Bento.EndToEnd.Tests.Infrastructure;

namespace Bento.EndToEnd.Tests;

/// <summary><c>bento verify [TAG]</c> finds a file changed inside the store.</summary>
[Trait("Category", "Slow")]
public sealed class VerifyTests : EndToEndTest
{
    [Fact]
    public async Task Verify_AfterCorruptingAFile_FailsAndNamesIt()
    {
        var exampleConfig = Path.Combine(Models.WaitForExample(), "config.json");
        var exampleHash = Sha256Of(exampleConfig);
        // Store files are hard links to the blobs (and the blobs to the model's files): corrupt a copy, never examples/.
        var tag = await BuildAsync(CopyExample(), "tiny-llama");

        var clean = await Bento("verify");
        Cli.AssertSuccess(clean);
        Assert.Equal("OK 1 bento(s) verified", clean.LastStdoutLine);

        var path = await Bento("get", tag, "-o", "path");
        Cli.AssertSuccess(path);
        var config = Path.Combine(path.LastStdoutLine, "model", "config.json");
        await File.AppendAllTextAsync(config, "x");

        foreach (var args in new[] { new[] { "verify" }, ["verify", tag] })
        {
            var r = await Bento(args);
            Assert.False(r.TimedOut, r.ToString());
            Assert.True(r.ExitCode == 1, $"expected exit code 1:\n{r}");
            Cli.AssertNoStackTrace(r);
            var corrupt = r.StdoutLines.Where(l => l.StartsWith("CORRUPT ", StringComparison.Ordinal)).ToList();
            Assert.NotEmpty(corrupt);
            Assert.Contains(corrupt, l => l.Contains($"{tag}: model/config.json", StringComparison.Ordinal));
            Assert.All(corrupt, l => Assert.Contains("config.json", l)); // nothing else is reported
            Assert.DoesNotContain(r.StdoutLines, l => l.StartsWith("OK", StringComparison.Ordinal));
            Assert.Contains(r.StderrLines, l => l.StartsWith("error: ", StringComparison.Ordinal));
        }

        Assert.Equal(exampleHash, Sha256Of(exampleConfig));
    }
}
