namespace Bento.Core.Tests;

public class BentoTagTests
{
    [Theory]
    [InlineData("tiny-llama", "tiny-llama", null)]
    [InlineData("tiny-llama:latest", "tiny-llama", "latest")]
    [InlineData("a.b_c-1:0123abcd", "a.b_c-1", "0123abcd")]
    public void Valid_tags_parse(string text, string name, string? version)
    {
        var tag = BentoTag.Parse(text);
        Assert.Equal(name, tag.Name);
        Assert.Equal(version, tag.Version);
    }

    [Theory]
    [InlineData("Tiny")]
    [InlineData("tiny llama")]
    [InlineData("tiny/llama")]
    [InlineData("-tiny")]
    [InlineData("tiny:")]
    [InlineData("tiny:v1:v2")]
    [InlineData("../etc")]
    [InlineData("")]
    public void Illegal_characters_are_usage_errors(string text)
    {
        var e = Assert.Throws<UsageException>(() => BentoTag.Parse(text));
        Assert.Contains("invalid tag", e.Message);
        Assert.Equal(2, e.ExitCode);
    }

    [Fact]
    public void Names_longer_than_63_characters_are_rejected()
    {
        Assert.Throws<UsageException>(() => BentoTag.Parse(new string('a', 64)));
        Assert.Equal(new string('a', 63), BentoTag.Parse(new string('a', 63)).Name);
    }
}
