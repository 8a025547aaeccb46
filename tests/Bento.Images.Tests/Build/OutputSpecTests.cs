using Bento.Core;
using Bento.Images.Build;

namespace Bento.Images.Tests.Build;

public sealed class OutputSpecTests
{
    [Theory]
    [InlineData("oci:/tmp/x", OutputKind.OciLayout, "/tmp/x", null)]
    [InlineData("oci:out:v1", OutputKind.OciLayout, "out", "v1")]
    [InlineData("oci:out:my/name:tag", OutputKind.OciLayout, "out", "my/name:tag")]
    [InlineData("docker-archive:img.tar", OutputKind.DockerArchive, "img.tar", null)]
    [InlineData("docker-archive:/a/img.tar:tiny-llama:1.0", OutputKind.DockerArchive, "/a/img.tar", "tiny-llama:1.0")]
    public void Valid_outputs_parse(string text, OutputKind kind, string path, string? reference)
    {
        Assert.Equal(new OutputSpec(kind, path, reference), OutputSpec.Parse(text));
        Assert.Equal(text, OutputSpec.Parse(text).ToString());
    }

    [Theory]
    [InlineData("out")]
    [InlineData("tar:out")]
    [InlineData("docker://registry/x")]
    [InlineData("oci:")]
    [InlineData("oci::tag")]
    [InlineData("docker-archive:")]
    [InlineData("oci:dir:bad tag")]
    [InlineData("oci:dir:-dash")]
    public void Invalid_outputs_are_usage_errors(string text)
    {
        var e = Assert.Throws<UsageException>(() => OutputSpec.Parse(text));
        Assert.Equal(2, e.ExitCode);
        Assert.Contains("invalid output", e.Message);
    }

    [Fact]
    public void Platforms_other_than_linux_amd64_are_refused_with_the_reason()
    {
        Assert.Equal("linux-x64", PlatformSpec.RuntimeIdentifier(PlatformSpec.Parse("linux/amd64")));
        Assert.Contains("linux/amd64 only", Assert.Throws<BentoException>(() => PlatformSpec.RuntimeIdentifier(PlatformSpec.Parse("linux/arm64"))).Message);
        Assert.Throws<UsageException>(() => PlatformSpec.Parse("amd64"));
        Assert.Throws<UsageException>(() => PlatformSpec.Parse("linux//"));
    }
}
