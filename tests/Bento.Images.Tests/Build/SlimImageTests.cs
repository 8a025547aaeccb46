using Bento.Core.Serving;
using Bento.Core.Store;
using Bento.Deploy;
using Bento.Images.Build;
using Bento.Images.Oci;
using Bento.Images.Registry;
using Bento.Images.Tests.Infrastructure;
using Bento.Images.Tests.Registry;
using k8s;
using k8s.Models;

namespace Bento.Images.Tests.Build;

/// <summary>
/// <c>containerize --weights separate --push</c> as a library call against a real registry: a slim image whose config
/// names its model artifact, the artifact pushed next to it as TAG-model, a runtime change that pushes no weight byte,
/// and <c>bento deploy</c> mounting the artifact as a Kubernetes image volume where the image's BENTO_MODEL_DIR points.
/// </summary>
public sealed class SlimImageTests(AnonymousRegistryFixture fixture) : ImageTestBase, IClassFixture<AnonymousRegistryFixture>
{
    private ContainerizeRequest Push(string runtime, params string[] tags) =>
        ContainerizeRequest.Parse([], tags, load: false, push: true, $"oci:{BaseLayout}:base", "linux/amd64", runtime, null, insecure: true, null, null)
            with { SeparateWeights = true };

    [Fact]
    public async Task A_slim_image_and_its_model_artifact_are_pushed_and_a_runtime_change_sends_no_weight_byte()
    {
        var bento = await BentoAsync();
        var host = fixture.Server.Host;
        var weights = bento.Manifest.Model.Files.Single(f => f.Path == "model.safetensors");

        var first = await new ContainerizePipeline(Store, new LineProgress()).RunAsync(bento, Push(Runtime, $"{host}/slim/alpha:v1"), default);
        var config = Config(first.Assembled.Image);
        Assert.DoesNotContain(first.Assembled.Layers, l => l.Description.StartsWith("weights", StringComparison.Ordinal));
        Assert.Equal(ImageContract.WeightsSeparate, config.Config!.Labels![ImageContract.Labels.Weights]);
        Assert.Contains($"{ImageContract.ModelDirectoryVariable}={ImageContract.ModelMountModelDirectory}", config.Config.Env!);
        var artifactPush = first.Publications.Single(p => p.Names.Contains($"{host}/slim/alpha:v1-model"));
        Assert.Equal(config.Config.Labels[ImageContract.Labels.ModelArtifact], artifactPush.Digest);

        using var client = new RegistryClient(new RegistryOptions { Insecure = [host], Credentials = new CredentialOptions { Anonymous = true } });
        var artifact = await client.GetManifestAsync(ImageReference.Parse($"{host}/slim/alpha:v1-model"), null, default);
        Assert.Contains("application/vnd.cncf.model.manifest.v1+json", System.Text.Encoding.UTF8.GetString(artifact.Bytes));
        Assert.True(await client.BlobExistsAsync(ImageReference.Parse($"{host}/slim/alpha"), new Descriptor("", "sha256:" + weights.Sha256, weights.Size), default));

        // A code-only change (a new runtime): a new slim image, the same artifact, and no weight byte sent.
        var newRuntime = SyntheticImages.FakeRuntime(Scratch.Combine("runtime-v2"), appVersion: "2");
        var second = await new ContainerizePipeline(Store, new LineProgress()).RunAsync(bento, Push(newRuntime, $"{host}/slim/alpha:v2"), default);
        Assert.NotEqual(first.Digest, second.Digest);
        var secondArtifact = second.Publications.Single(p => p.Names.Contains($"{host}/slim/alpha:v2-model"));
        Assert.Equal(artifactPush.Digest, secondArtifact.Digest);
        Assert.Equal(0, secondArtifact.Push!.Transfer.BlobsUploaded);
        var sent = second.Publications.Where(p => p.Push is not null).Sum(p => p.Push!.Transfer.BytesSent);
        Assert.True(sent < weights.Size, $"{sent} bytes sent for a runtime change; the weights are {weights.Size}");

        // Deploy mounts the recorded artifact (pinned by digest) as an image volume where BENTO_MODEL_DIR points.
        var spec = await new DeploymentResolver(Store).ResolveAsync(bento, DeployRequest.Parse(null, false, null, null, null, null, null, null, 0, [], [], false, "http"), default);
        Assert.Equal($"{host}/slim/alpha@{artifactPush.Digest}", spec.ModelArtifact);
        var deployment = Assert.IsType<V1Deployment>(KubernetesYaml.LoadAllFromString(KubernetesObjects.ToYaml(KubernetesObjects.Create(spec)), strict: true)[0]);
        var pod = deployment.Spec.Template.Spec;
        var volume = pod.Volumes.Single(v => v.Image is not null);
        Assert.Equal(spec.ModelArtifact, volume.Image.Reference);
        var mount = pod.Containers[0].VolumeMounts.Single(m => m.Name == volume.Name);
        Assert.Equal(ImageContract.ModelMountDirectory, mount.MountPath);
        Assert.True(mount.ReadOnlyProperty);
        Assert.StartsWith(mount.MountPath + "/", ImageContract.ModelMountModelDirectory);
        // compose cannot mount an artifact: refused, saying so.
        Assert.Contains("compose cannot mount", Assert.Throws<Bento.Core.BentoException>(() => ComposeFile.Create(spec)).Message);
    }

    [Fact]
    public async Task Deploy_takes_an_explicit_model_artifact_only_pinned_by_digest()
    {
        var bento = await BentoAsync();
        const string image = "reg.example/team/alpha@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        const string artifact = "reg.example/team/alpha@sha256:fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";
        DeployRequest Request(string model) =>
            DeployRequest.Parse(image, false, null, null, null, null, null, null, 0, [], [], false, "http") with { ModelArtifact = model };
        var spec = await new DeploymentResolver(Store).ResolveAsync(bento, Request(artifact), default);
        Assert.Equal(artifact, spec.ModelArtifact);
        var pod = Assert.IsType<V1Deployment>(KubernetesYaml.LoadAllFromString(KubernetesObjects.ToYaml(KubernetesObjects.Create(spec)), strict: true)[0]).Spec.Template.Spec;
        Assert.Equal(artifact, pod.Volumes.Single(v => v.Image is not null).Image.Reference);
        var e = await Assert.ThrowsAsync<Bento.Core.UsageException>(() => new DeploymentResolver(Store).ResolveAsync(bento, Request("reg.example/team/alpha:v1-model"), default));
        Assert.Contains("not pinned by digest", e.Message);
        // An image with its weights: no image volume.
        var full = await new DeploymentResolver(Store).ResolveAsync(bento, DeployRequest.Parse(image, false, null, null, null, null, null, null, 0, [], [], false, "http"), default);
        Assert.Null(full.ModelArtifact);
        Assert.DoesNotContain(Assert.IsType<V1Deployment>(KubernetesYaml.LoadAllFromString(KubernetesObjects.ToYaml(KubernetesObjects.Create(full)), strict: true)[0]).Spec.Template.Spec.Volumes,
            v => v.Image is not null);
    }
}
