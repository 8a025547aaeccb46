using Bento.Core.Archive;
using Bento.Core.Manifest;
using Bento.Core.Spec;
using Bento.Core.Store;

namespace Bento.Core.Tests;

/// <summary>
/// Malformed values that used to surface as "internal error (SomeException: …)" — found by hand and by the fuzz run —
/// and are now one clear line naming the file, the place and the value.
/// </summary>
public class MalformedValueTests : StoreTestBase
{
    private SpecException ParseFails(string yaml) =>
        Assert.Throws<SpecException>(() => BentofileParser.Parse(yaml, Temp.Combine("bentofile.yaml")));

    [Fact]
    public void An_include_or_exclude_pattern_that_is_no_pattern_is_named()
    {
        Assert.EndsWith("bentofile.yaml:2:10: include: '[z-a]' is not a valid gitignore pattern ([x-y] range in reverse order)",
            ParseFails("name: m\ninclude: [\"[z-a]\"]\n").Message);
        Assert.Contains("exclude: '[9-0]' is not a valid gitignore pattern", ParseFails("name: m\nexclude: '[9-0]'\n").Message);
    }

    [Fact]
    public async Task A_bentoignore_pattern_that_is_no_pattern_is_named_with_its_line()
    {
        var dir = await ModelFixture.BuildDirectoryAsync(Temp);
        File.WriteAllText(Path.Combine(dir, ".bentoignore"), "# notes\n\n*.tmp\n[9-0]x\n");
        var e = await Assert.ThrowsAsync<BentoException>(() => BuildAsync(dir));
        Assert.Equal($"{BentofileParser.DisplayPath(Path.Combine(dir, ".bentoignore"))}:4: '[9-0]x' is not a valid gitignore pattern ([x-y] range in reverse order)", e.Message);
        Assert.Empty(StoreContents());
    }

    [Fact]
    public void Control_characters_in_a_model_path_or_base_image_are_refused()
    {
        Assert.EndsWith("model: the model folder's path contains a control character; give the folder's path as plain text",
            ParseFails("name: m\nmodel: \"a\\0b\"\n").Message);
        Assert.Contains("docker.base_image: expected an image reference", ParseFails("name: m\ndocker: {base_image: \"a\\u0000b\"}\n").Message);
    }

    [Fact]
    public void YAML_the_reader_itself_chokes_on_is_invalid_YAML_not_an_internal_error()
    {
        // YamlDotNet throws ArgumentException for this tag instead of a YamlException.
        Assert.Contains("invalid YAML", ParseFails("name: !!] x\n").Message);
        Assert.Contains("invalid YAML", Assert.ThrowsAny<BentoException>(() => ManifestSerializer.FromYaml("schema: !!] 1\n", "bento.yaml")).Message);
    }

    [Theory]
    [InlineData("labels:\n", "bento.yaml: labels: expected a mapping of strings")]
    [InlineData("labels: {a: }\n", "bento.yaml: labels: expected a mapping of strings")]
    [InlineData("envs: [~]\n", "bento.yaml: envs: expected a list of {name, value}")]
    [InlineData("model: {files: [~]}\n", "bento.yaml: model")]
    [InlineData("runtime: {port: -1e9993000}\n", "is not a value bento.yaml holds (a number out of range")]
    [InlineData("runtime: {enforce_eager: {overridable: yes}}\n", "'yes' at line 3 is not a value bento.yaml holds")]
    public void A_manifest_with_nulls_or_values_no_builder_writes_is_refused(string yaml, string expected)
    {
        var e = Assert.Throws<BentoException>(() => ManifestSerializer.FromYaml("schema: 1\nname: m\n" + yaml, "bento.yaml"));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public async Task Empty_paths_given_to_build_and_import_are_usage_errors()
    {
        Assert.Equal("the folder to build is empty: give a folder holding bentofile.yaml (or '.')",
            Assert.Throws<UsageException>(() => BentofileParser.Locate("")).Message);
        Assert.Equal("the archive to import is empty: give a .bento file, or '-' for stdin",
            (await Assert.ThrowsAsync<UsageException>(() => BentoArchive.ImportAsync(new BentoStore(Temp.Combine("s")), ""))).Message);
    }
}
