using Bento.Core;
using Bento.Core.Serving;
using Bento.Core.Store;
using Bento.Deploy;
using Bento.Images.Tests.Infrastructure;
using k8s;
using k8s.Models;

namespace Bento.Images.Tests.Deploy;

/// <summary>
/// bento deploy's objects, read back by KubernetesClient's own strict deserializer (an unknown or misspelt field, or a
/// value of the wrong type, fails) and checked against the image contract the image was built with.
/// </summary>
public sealed class DeployGenerationTests : ImageTestBase
{
    private const string Pinned = "127.0.0.1:5000/team/alpha@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    private static DeployRequest Request(string? image = Pinned, string[]? env = null, string? autoscale = null, int? replicas = null, string? memory = null,
        int gpus = 0, bool requireDigest = false, string? name = null, string? ns = null, string[]? secrets = null, bool hostNetwork = false, string probes = "http") =>
        DeployRequest.Parse(image, requireDigest, name, ns, replicas, autoscale, null, memory, gpus, env ?? [], secrets ?? [], hostNetwork, probes);

    private Task<DeploymentSpec> ResolveAsync(StoredBento bento, DeployRequest request) =>
        new DeploymentResolver(Store).ResolveAsync(bento, request, default);

    private static List<object> ReadBack(string yaml) => KubernetesYaml.LoadAllFromString(yaml, strict: true);

    [Fact]
    public async Task The_objects_parse_strictly_and_carry_the_image_contract()
    {
        var bento = await BentoAsync("name: alpha\nruntime:\n  port: 8080\n");
        var spec = await ResolveAsync(bento, Request(env: ["BENTO_ENFORCE_EAGER=1"], secrets: ["regcred"], ns: "llm"));
        var objects = ReadBack(KubernetesObjects.ToYaml(KubernetesObjects.Create(spec)));

        Assert.Equal(["Deployment", "Service", "PodDisruptionBudget"], objects.Select(o => ((IKubernetesObject)o).Kind));
        var deployment = Assert.IsType<V1Deployment>(objects[0]);
        Assert.Equal(("alpha", "llm"), (deployment.Metadata.Name, deployment.Metadata.NamespaceProperty));
        Assert.Equal(1, deployment.Spec.Replicas);
        var pod = deployment.Spec.Template.Spec;
        var container = Assert.Single(pod.Containers);
        Assert.Equal(Pinned, container.Image);
        Assert.Equal(8080, Assert.Single(container.Ports).ContainerPort);
        Assert.Equal((ImageContract.ReadyPath, "8080"), (container.StartupProbe.HttpGet.Path, container.StartupProbe.HttpGet.Port.Value));
        Assert.Equal(ImageContract.ReadyPath, container.ReadinessProbe.HttpGet.Path);
        Assert.Equal(ImageContract.HealthPath, container.LivenessProbe.HttpGet.Path);
        Assert.Equal([("BENTO_ENFORCE_EAGER", "1")], container.Env.Select(e => (e.Name, e.Value)));
        Assert.True(container.SecurityContext.ReadOnlyRootFilesystem);
        Assert.False(container.SecurityContext.AllowPrivilegeEscalation);
        Assert.Equal(ImageContract.UserId, pod.SecurityContext.RunAsUser);
        Assert.True(pod.SecurityContext.RunAsNonRoot);
        Assert.Equal(ImageContract.TempDirectory, Assert.Single(container.VolumeMounts).MountPath);
        Assert.NotNull(Assert.Single(pod.Volumes).EmptyDir);
        Assert.Equal("regcred", Assert.Single(pod.ImagePullSecrets).Name);
        Assert.Equal(EngineDefaults.ShutdownTimeout + 5, pod.TerminationGracePeriodSeconds);
        Assert.Equal(container.Resources.Requests["memory"], container.Resources.Limits["memory"]);
        Assert.False(container.Resources.Limits.ContainsKey("cpu"));
        Assert.Equal("true", deployment.Spec.Template.Metadata.Annotations["prometheus.io/scrape"]);
        Assert.Equal(ImageContract.MetricsPath, deployment.Spec.Template.Metadata.Annotations["prometheus.io/path"]);
        Assert.Equal(deployment.Spec.Selector.MatchLabels, deployment.Spec.Template.Metadata.Labels.Where(l => deployment.Spec.Selector.MatchLabels.ContainsKey(l.Key)).ToDictionary());

        var service = Assert.IsType<V1Service>(objects[1]);
        Assert.Equal(deployment.Spec.Selector.MatchLabels, service.Spec.Selector);
        Assert.Equal((8080, "8080"), (Assert.Single(service.Spec.Ports).Port, service.Spec.Ports[0].TargetPort.Value));
        var budget = Assert.IsType<V1PodDisruptionBudget>(objects[2]);
        Assert.Equal("1", budget.Spec.MaxUnavailable.Value);

        // The JSON form is the same objects.
        var list = System.Text.Json.Nodes.JsonNode.Parse(KubernetesObjects.ToJson(KubernetesObjects.Create(spec)))!;
        Assert.Equal("List", (string)list["kind"]!);
        var fromJson = KubernetesJson.Deserialize<V1Deployment>(list["items"]![0]!.ToJsonString());
        Assert.Equal(Pinned, fromJson.Spec.Template.Spec.Containers[0].Image);
    }

    [Fact]
    public async Task Autoscaling_adds_an_hpa_on_the_waiting_queue_and_leaves_replicas_to_it()
    {
        var bento = await BentoAsync();
        var objects = ReadBack(KubernetesObjects.ToYaml(KubernetesObjects.Create(await ResolveAsync(bento, Request(autoscale: "2:6"))))).ToList();
        var hpa = Assert.IsType<V2HorizontalPodAutoscaler>(objects[3]);
        Assert.Equal((2, 6), (hpa.Spec.MinReplicas, hpa.Spec.MaxReplicas));
        var metric = Assert.Single(hpa.Spec.Metrics);
        Assert.Equal(("Pods", KubernetesObjects.WaitingMetric), (metric.Type, metric.Pods.Metric.Name));
        Assert.Equal(("Deployment", "alpha"), (hpa.Spec.ScaleTargetRef.Kind, hpa.Spec.ScaleTargetRef.Name));
        Assert.Null(Assert.IsType<V1Deployment>(objects[0]).Spec.Replicas);
        Assert.Contains("not both", Assert.Throws<UsageException>(() => Request(autoscale: "1:2", replicas: 3)).Message);
    }

    [Fact]
    public async Task Memory_follows_the_kv_plan_and_an_override_of_max_num_seqs()
    {
        var bento = await BentoAsync();
        var few = await ResolveAsync(bento, Request(env: ["BENTO_MAX_NUM_SEQS=1"]));
        var many = await ResolveAsync(bento, Request(env: ["BENTO_MAX_NUM_SEQS=256"]));
        Assert.True(many.Memory > few.Memory, $"{many.Memory} should exceed {few.Memory}");
        // The runtime's own planner, given that limit, serves every sequence asked for.
        var plan = BentoFit.Plan(bento.Manifest, bento.Directory, new FitOptions { MaxNumSeqs = 256, Memory = many.Memory - PodMemory.RuntimeOverheadBytes });
        Assert.Equal(256, plan.Sequences);
        var given = await ResolveAsync(bento, Request(memory: "3GiB"));
        Assert.Equal("3072Mi", given.MemoryQuantity);
    }

    [Fact]
    public async Task The_startup_budget_grows_with_the_weights()
    {
        var spec = await ResolveAsync(await BentoAsync(), Request());
        var weights = (await BentoAsync()).Manifest.Model.Files.Sum(f => f.Size);
        Assert.Equal(DeploymentSpec.StartupBaseSeconds + (int)Math.Ceiling(weights / (double)(1L << 30) * DeploymentSpec.StartupSecondsPerGiB), spec.StartupBudgetSeconds);
        var deployment = KubernetesObjects.Deployment(spec);
        var probe = deployment.Spec.Template.Spec.Containers[0].StartupProbe;
        Assert.True(probe.PeriodSeconds * probe.FailureThreshold >= spec.StartupBudgetSeconds);
    }

    [Fact]
    public async Task The_last_pushed_reference_is_used_when_no_image_is_given()
    {
        var bento = await BentoAsync();
        Assert.Contains("has no pushed image; run bento containerize", (await Assert.ThrowsAsync<BentoException>(() => ResolveAsync(bento, Request(image: null)))).Message);
        var records = new PublishedImages(Store);
        await records.RecordAsync(bento.Manifest, [new PublishedImage("reg.example/a/alpha@sha256:" + new string('1', 64), "sha256:" + new string('1', 64), ["reg.example/a/alpha:v1"], "cpu", DateTimeOffset.UnixEpoch)]);
        await records.RecordAsync(bento.Manifest, [new PublishedImage(Pinned, Pinned[(Pinned.IndexOf('@') + 1)..], [], "cpu", DateTimeOffset.UnixEpoch)]);
        Assert.Equal(Pinned, (await ResolveAsync(bento, Request(image: null))).Image);
    }

    [Fact]
    public async Task Host_network_and_exec_probes_for_engines_without_port_mapping_or_curl()
    {
        var spec = await ResolveAsync(await BentoAsync(), Request(hostNetwork: true, probes: "exec"));
        var pod = Assert.IsType<V1Deployment>(ReadBack(KubernetesObjects.ToYaml(KubernetesObjects.Create(spec)))[0]).Spec.Template.Spec;
        Assert.True(pod.HostNetwork);
        Assert.Null(pod.Containers[0].Ports);
        Assert.Equal(ImageContract.HealthcheckCommand, pod.Containers[0].LivenessProbe.Exec.Command);
        Assert.Null(pod.Containers[0].LivenessProbe.HttpGet);
    }

    [Fact]
    public async Task The_compose_file_has_the_same_image_env_healthcheck_port_and_user()
    {
        var spec = await ResolveAsync(await BentoAsync(), Request(env: ["BENTO_ENFORCE_EAGER=1"]));
        var compose = Bento.Core.Manifest.JsonYaml.FromYaml(ComposeFile.Create(spec))!;
        var service = compose["services"]!["alpha"]!;
        Assert.Equal(Pinned, (string)service["image"]!);
        Assert.Equal(ImageContract.User, (string)service["user"]!);
        Assert.Equal("1", (string)service["environment"]!["BENTO_ENFORCE_EAGER"]!);
        Assert.Equal(["CMD", .. ImageContract.HealthcheckCommand], service["healthcheck"]!["test"]!.AsArray().Select(n => (string)n!));
        Assert.Equal("3000:3000", (string)service["ports"]![0]!);
        Assert.True((bool)service["read_only"]!);
        Assert.Equal($"{spec.TerminationGraceSeconds}s", (string)service["stop_grace_period"]!);
    }

    [Fact]
    public async Task Bad_input_is_refused_naming_the_value()
    {
        var locked = await BentoAsync("name: locked\nruntime:\n  enforce_eager: {value: false, overridable: false}\n", "locked");
        var e = await Assert.ThrowsAsync<BentoException>(() => ResolveAsync(locked, Request(env: ["BENTO_ENFORCE_EAGER=1"])));
        Assert.Contains("locks enforce_eager", e.Message);
        Assert.Contains("overridable: false", e.Message);

        var bento = await BentoAsync();
        // Not pushed through bento (no record) and no registry to ask: the accelerator is unknown, so --gpus is refused.
        Assert.Contains("cannot tell whether", (await Assert.ThrowsAsync<BentoException>(() => ResolveAsync(bento, Request(gpus: 1)))).Message);
        await new PublishedImages(Store).RecordAsync(bento.Manifest, [new PublishedImage(Pinned, Pinned[(Pinned.IndexOf('@') + 1)..], [], ImageContract.CpuAccelerator, DateTimeOffset.UnixEpoch)]);
        Assert.Contains("has a CPU-only runtime (label ai.bentobuilder.accelerator=cpu)", (await Assert.ThrowsAsync<BentoException>(() => ResolveAsync(bento, Request(gpus: 1)))).Message);

        static string Usage(Func<object> f) => Assert.Throws<UsageException>(f).Message;
        Assert.Contains("--env 'NOEQUALS' is not NAME=VALUE", Usage(() => Request(env: ["NOEQUALS"])));
        Assert.Contains("'1BAD' is not a variable name", Usage(() => Request(env: ["1BAD=x"])));
        Assert.Contains("--namespace 'Prod_NS' is not a valid Kubernetes namespace", Usage(() => Request(ns: "Prod_NS")));
        Assert.Contains("--name 'My.Model' is not a valid Kubernetes name", Usage(() => Request(name: "My.Model")));
        Assert.Contains("--autoscale '3:1'", Usage(() => Request(autoscale: "3:1")));
        Assert.Contains("--memory 'lots'", Usage(() => Request(memory: "lots")));
        Assert.Contains("--pull-secret 'Bad Secret'", Usage(() => Request(secrets: ["Bad Secret"])));
        Assert.Contains("--image 'not a ref!' is not a valid image reference", (await Assert.ThrowsAsync<UsageException>(() => ResolveAsync(bento, Request(image: "not a ref!")))).Message);
        Assert.Contains("not pinned by digest and --require-digest", (await Assert.ThrowsAsync<UsageException>(() => ResolveAsync(bento, Request(image: "reg.example/a/alpha:v1", requireDigest: true)))).Message);
        Assert.Contains("--env BENTO_ENFORCE_EAGER='maybe' is not true, false or auto", (await Assert.ThrowsAsync<UsageException>(() => ResolveAsync(bento, Request(env: ["BENTO_ENFORCE_EAGER=maybe"])))).Message);
        Assert.Contains("--env BENTO_MAX_NUM_SEQS='0'", (await Assert.ThrowsAsync<UsageException>(() => ResolveAsync(bento, Request(env: ["BENTO_MAX_NUM_SEQS=0"])))).Message);
    }

    /// <summary>
    /// Every override is judged by its setting's rule from the one table, with the runtime's own wording, so no
    /// deployment is generated that the runtime would refuse at start (a crash loop) or that silently ignores a value.
    /// </summary>
    [Theory]
    [InlineData("BENTO_SHUTDOWN_TIMEOUT=soon", "--env BENTO_SHUTDOWN_TIMEOUT='soon' is not an integer; use a whole number of seconds from 0 to 3600")]
    [InlineData("BENTO_SHUTDOWN_TIMEOUT=7200", "--env BENTO_SHUTDOWN_TIMEOUT='7200' is out of range; use a whole number of seconds from 0 to 3600")]
    [InlineData("BENTO_DTYPE=int4", "--env BENTO_DTYPE='int4' is not a dtype; use auto, float32, float16, bfloat16")]
    [InlineData("BENTO_GPU_MEMORY_UTILIZATION=90%", "--env BENTO_GPU_MEMORY_UTILIZATION='90%' is not a number")]
    [InlineData("BENTO_MAX_REQUEST_BYTES=1", "--env BENTO_MAX_REQUEST_BYTES='1' is out of range; use a whole number of bytes from 1024")]
    [InlineData("BENTO_HOST=a b", "--env BENTO_HOST='a b' is not a host")]
    [InlineData("BENTO_KV_CACHE_MEMORY=-1GiB", "--env BENTO_KV_CACHE_MEMORY='-1GiB' is not a memory size")]
    [InlineData("BENTO_MAX_MODEL_LEN=100000", "--env BENTO_MAX_MODEL_LEN='100000' is out of range; use a whole number from 1 to")]
    public async Task Every_setting_override_is_judged_as_the_runtime_judges_it(string env, string message)
    {
        var bento = await BentoAsync();
        var e = await Assert.ThrowsAsync<UsageException>(() => ResolveAsync(bento, Request(env: [env])));
        Assert.StartsWith(message, e.Message);
    }

    [Fact]
    public async Task Overrides_that_size_the_pod_are_used_typed()
    {
        var bento = await BentoAsync();
        var spec = await ResolveAsync(bento, Request(env: ["BENTO_SHUTDOWN_TIMEOUT= 40 ", "BENTO_PORT=8123"]));
        Assert.Equal(45, spec.TerminationGraceSeconds);
        Assert.Equal(8123, spec.Port);
    }

    [Fact]
    public async Task A_bento_name_kubernetes_rejects_needs_a_name()
    {
        var bento = await BentoAsync("name: 9lives\n", "nine");
        var e = await Assert.ThrowsAsync<UsageException>(() => ResolveAsync(bento, Request()));
        Assert.Contains("the name derived from bento 9lives '9lives' is not a valid Kubernetes name", e.Message);
        Assert.Equal("nine-lives", (await ResolveAsync(bento, Request(name: "nine-lives"))).Name);
    }

    [Fact]
    public async Task The_output_directory_gets_one_file_per_object_written_whole()
    {
        var spec = await ResolveAsync(await BentoAsync(), Request(autoscale: "1:2"));
        var dir = Scratch.Combine("manifests");
        var paths = await DeployOutput.WriteAsync(dir, DeployOutput.Kubernetes(KubernetesObjects.Create(spec), "yaml"), default);
        Assert.Equal(["deployment.yaml", "service.yaml", "poddisruptionbudget.yaml", "horizontalpodautoscaler.yaml"], paths.Select(Path.GetFileName));
        Assert.IsType<V1Deployment>(Assert.Single(ReadBack(File.ReadAllText(paths[0]))));
        Assert.Equal(paths.Select(Path.GetFileName).Order(), Directory.GetFiles(dir).Select(Path.GetFileName).Order()); // no temp files left

        var blocked = Scratch.Combine("blocked");
        Directory.CreateDirectory(Path.Combine(blocked, "service.yaml"));
        var e = await Assert.ThrowsAsync<BentoException>(() => DeployOutput.WriteAsync(blocked, DeployOutput.Kubernetes(KubernetesObjects.Create(spec), "yaml"), default));
        Assert.Contains("service.yaml is a directory", e.Message);
        Assert.False(File.Exists(Path.Combine(blocked, "deployment.yaml")), "nothing is written when one target is unusable");
    }
}
