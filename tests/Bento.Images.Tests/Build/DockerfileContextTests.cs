using Bento.Core;
using Bento.Images.Build;
using Bento.Images.Tests.Infrastructure;

namespace Bento.Images.Tests.Build;

/// <summary>--dockerfile: a docker build context that reproduces the image's files, layers and config.</summary>
public sealed class DockerfileContextTests : ImageTestBase
{
    [Fact]
    public async Task The_context_holds_the_runtime_the_weights_the_bento_and_a_dockerfile_with_the_same_config()
    {
        var bento = await BentoAsync();
        var image = (await AssembleAsync(bento)).Image;
        var dir = Scratch.Combine("context");
        await DockerfileContext.WriteAsync(dir, bento, image, Runtime, "registry.example/base:1", "oci:/x (sha256:0)", default);

        Assert.True(File.Exists(Path.Combine(dir, "runtime", "libtorch", "libtorch_cpu.so")));
        Assert.True(File.Exists(Path.Combine(dir, "runtime", "dotnet", "libcoreclr.so")));
        Assert.True(File.Exists(Path.Combine(dir, "runtime", "app", "bento-runtime")));
        Assert.True(File.Exists(Path.Combine(dir, "weights", "model.safetensors")));
        Assert.False(File.Exists(Path.Combine(dir, "bento", "model", "model.safetensors")), "the weight has its own COPY");
        Assert.True(File.Exists(Path.Combine(dir, "bento", "model", "tokenizer.json")));
        Assert.True(File.Exists(Path.Combine(dir, "bento", "bento.yaml")));

        var dockerfile = await File.ReadAllTextAsync(Path.Combine(dir, "Dockerfile"));
        Assert.DoesNotContain("{{", dockerfile);
        Assert.Contains("ARG BASE_IMAGE=registry.example/base:1", dockerfile);
        Assert.Contains("COPY runtime/libtorch/ /opt/bento-runtime/\nCOPY runtime/dotnet/ /opt/bento-runtime/\nCOPY runtime/app/ /opt/bento-runtime/", dockerfile);
        Assert.Contains("COPY weights/model.safetensors /bento/model/model.safetensors", dockerfile);
        Assert.Contains("ENV BENTO_PORT=\"3000\"", dockerfile);
        Assert.DoesNotContain("ENV BENTO_ENFORCE_EAGER", dockerfile);
        Assert.DoesNotContain("ENV BASE_ONLY", dockerfile); // inherited from the base, not repeated
        Assert.Contains("LABEL \"ai.bentobuilder.enforce_eager.overridable\"=\"true\"", dockerfile);
        Assert.Contains("USER 10001:10001", dockerfile);
        Assert.Contains("EXPOSE 3000/tcp", dockerfile);
        Assert.Contains("HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 CMD [\"/opt/bento-runtime/bento-runtime\",\"--healthcheck\"]", dockerfile);
        Assert.Contains("ENTRYPOINT [\"/opt/bento-runtime/bento-runtime\"]", dockerfile);
        Assert.True(dockerfile.IndexOf("COPY weights", StringComparison.Ordinal) < dockerfile.IndexOf("COPY bento/", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_non_empty_directory_is_refused()
    {
        var bento = await BentoAsync();
        var image = (await AssembleAsync(bento)).Image;
        var dir = Scratch.CreateDirectory("busy");
        await File.WriteAllTextAsync(Path.Combine(dir, "x"), "x");
        var e = await Assert.ThrowsAsync<BentoException>(() => DockerfileContext.WriteAsync(dir, bento, image, Runtime, "b", null, default));
        Assert.Contains("not empty", e.Message);
    }
}
