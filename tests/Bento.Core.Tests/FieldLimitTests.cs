using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;
using Bento.Core.Spec;

namespace Bento.Core.Tests;

/// <summary>
/// Labels and description: the credential check is linear (a 1 MiB label took 41 s), both are capped, and a build
/// never makes a bento.yaml that import would refuse.
/// </summary>
[Collection(HostileInputCollection.Name)]
public class FieldLimitTests : StoreTestBase
{
    /// <summary>The expression the scan replaced: the oracle for what it must find.</summary>
    private static readonly Regex Old = new(@"[A-Za-z][A-Za-z0-9+.-]*://[^/@\s]+@");

    private SpecException ParseFails(string yaml) =>
        Assert.Throws<SpecException>(() => BentofileParser.Parse(yaml, Temp.Combine("bentofile.yaml")));

    public static TheoryData<string> Adversarial() => new()
    {
        new string('a', 4 << 20),                                          // a scheme that never ends
        string.Concat(Enumerable.Repeat("a://", 1 << 20)),                 // separators without credentials
        string.Concat(Enumerable.Repeat("a:/", 1 << 20)),
        "x://" + new string('b', 4 << 20),                                 // an authority that never ends
        string.Concat(Enumerable.Repeat("ab+c.d-e://u:p", 1 << 18)),
    };

    [Theory]
    [MemberData(nameof(Adversarial))]
    public void The_credential_check_is_linear_on_megabytes_of_adversarial_text(string text)
    {
        var clock = Stopwatch.StartNew();
        Assert.False(UrlCredentials.Present(text));
        Assert.True(UrlCredentials.Present(text + " https://user:token@example.com/x"));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2), $"took {clock.Elapsed}");
    }

    [Fact]
    public void The_credential_check_finds_exactly_what_the_old_expression_found()
    {
        string[] known =
        [
            "https://github.com/org/repo", "https://user:ghp_token@github.com/org/repo.git", "git+ssh://git@host/x", "://u@h",
            "1http://u@h", "see http://example.com/a@b", "http://@host", "mailto:me@example.com", "s3://key:secret@bucket",
            "x http://u:p\t@h", "ab://x/y@z", "ABC-1.2+x://u@", "a://b://c@d",
        ];
        foreach (var text in known) Assert.True(Old.IsMatch(text) == UrlCredentials.Present(text), text);

        // And on random strings over the characters that matter.
        var random = new Random(1234);
        const string alphabet = "aZ1:/@ +.-\t";
        for (var i = 0; i < 20_000; i++)
        {
            var text = new string(Enumerable.Range(0, random.Next(1, 16)).Select(_ => alphabet[random.Next(alphabet.Length)]).ToArray());
            Assert.True(Old.IsMatch(text) == UrlCredentials.Present(text), $"'{text}'");
        }
    }

    [Fact]
    public void A_megabyte_label_is_refused_at_once_with_its_key_and_the_limit()
    {
        var clock = Stopwatch.StartNew();
        var e = ParseFails($"name: m\nlabels:\n  notes: {new string('a', 1 << 20)}\n");
        Assert.EndsWith("bentofile.yaml:3:10: labels.notes: the value is 1 MiB (1048576 bytes), over the 16 KiB limit; shorten it (set BENTO_MAX_LABEL_BYTES to raise the limit)", e.Message);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2), $"took {clock.Elapsed}");

        // An implicit key is at most 1024 characters in YAML; a longer one needs the explicit "? key" form.
        var key = ParseFails($"name: m\ndocker:\n  labels:\n    ? {new string('k', 20_000)}\n    : v\n");
        Assert.Contains(":4:7: docker.labels.kkkk", key.Message);
        Assert.Contains("the key is 19.5 KiB (20000 bytes), over the 16 KiB limit", key.Message);
    }

    [Fact]
    public void A_label_at_the_limit_is_accepted_and_still_checked_for_credentials()
    {
        var value = new string('a', (int)InputLimits.LabelBytes.Value - 40) + " https://u:t@example.com";
        var e = ParseFails($"name: m\nlabels:\n  source: \"{value}\"\n");
        Assert.Contains("labels.source: this URL carries credentials", e.Message);
        var ok = BentofileParser.Parse($"name: m\nlabels:\n  source: {new string('a', (int)InputLimits.LabelBytes.Value)}\n", Temp.Combine("bentofile.yaml"));
        Assert.Equal(InputLimits.LabelBytes.Value, ok.Labels["source"].Length);
    }

    [Fact]
    public void A_description_over_the_limit_is_refused()
    {
        var e = ParseFails($"name: m\ndescription: {new string('d', 1 << 20)}\n");
        Assert.EndsWith("bentofile.yaml:2:14: description: 1 MiB (1048576 bytes) exceeds the 64 KiB limit; " +
                        "shorten it or ship the text as a file under include (set BENTO_MAX_DESCRIPTION_BYTES to raise the limit)", e.Message);
    }

    /// <summary>
    /// A bentofile just under the YAML limit, plus the file list the build adds, makes a bento.yaml over it: the
    /// build refuses it (it used to build and export a bento no import would take) and stores nothing.
    /// </summary>
    [Fact]
    public async Task A_build_whose_manifest_import_would_refuse_fails_and_stores_nothing()
    {
        var value = new string('v', (int)InputLimits.LabelBytes.Value);
        var labels = new StringBuilder("name: fixture\nlabels:\n");
        var count = 0;
        while (labels.Length + value.Length + 16 < InputLimits.YamlBytes.Value - 4096) labels.Append($"  l{count++}: {value}\n");
        var dir = await ModelFixture.BuildDirectoryAsync(Temp, labels.ToString());
        // The file list takes it over: a few thousand sources with long names.
        var src = Directory.CreateDirectory(Path.Combine(dir, "src")).FullName;
        for (var i = 0; i < 2000; i++) File.WriteAllText(Path.Combine(src, $"{i:D4}-{new string('n', 150)}.txt"), "x");

        // Not a memory test: a 16 MiB bentofile is within bounds and costs what it costs.
        var e = await Assert.ThrowsAsync<BentoException>(() => BuildAsync(dir).WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.StartsWith($"{BentofileParser.DisplayPath(Path.Combine(dir, "bentofile.yaml"))}: the bento's bento.yaml would be refused by 'bento import' (bento.yaml: ", e.Message);
        Assert.Contains("exceeds the 16 MiB limit for a YAML file", e.Message);
        Assert.Empty(StoreContents());
    }
}
