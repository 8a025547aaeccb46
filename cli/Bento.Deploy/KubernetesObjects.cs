using System.Globalization;
using Bento.Core.Serving;
using k8s;
using k8s.Models;

namespace Bento.Deploy;

/// <summary>
/// The Kubernetes objects for a <see cref="DeploymentSpec"/>, as KubernetesClient's own models: a Deployment (image
/// pinned, non-root and read-only, probes on the image contract's paths, resources, Prometheus annotations), a Service,
/// a PodDisruptionBudget, and with autoscaling an autoscaling/v2 HorizontalPodAutoscaler on vLLM's queue length.
/// </summary>
public static class KubernetesObjects
{
    public const string WaitingMetric = "vllm:num_requests_waiting";
    public const string GpuResource = "nvidia.com/gpu";
    private const string HttpPortName = "http";
    private const string ModelVolume = "model";
    private static V1Volume TmpVolume => new() { Name = "tmp", EmptyDir = new V1EmptyDirVolumeSource { SizeLimit = new ResourceQuantity("1Gi") } };

    public static IReadOnlyList<IKubernetesObject<V1ObjectMeta>> Create(DeploymentSpec spec)
    {
        var objects = new List<IKubernetesObject<V1ObjectMeta>> { Deployment(spec), Service(spec), DisruptionBudget(spec) };
        if (spec.Autoscale is not null) objects.Add(Autoscaler(spec));
        return objects;
    }

    /// <summary>app.kubernetes.io/name and instance select the pods; version and the bento say what runs.</summary>
    public static Dictionary<string, string> SelectorLabels(DeploymentSpec spec) => new()
    {
        ["app.kubernetes.io/name"] = spec.Name,
        ["app.kubernetes.io/instance"] = spec.Name,
    };

    private static V1ObjectMeta Metadata(DeploymentSpec spec) => new()
    {
        Name = spec.Name,
        NamespaceProperty = spec.Namespace,
        Labels = new Dictionary<string, string>(SelectorLabels(spec))
        {
            ["app.kubernetes.io/version"] = KubernetesNames.LabelValue(spec.BentoVersion),
            ["app.kubernetes.io/component"] = "llm-server",
            ["app.kubernetes.io/managed-by"] = "bento",
        },
        Annotations = new Dictionary<string, string> { [ImageContract.Labels.Bento] = spec.BentoTag },
    };

    public static V1Deployment Deployment(DeploymentSpec spec)
    {
        var resources = new V1ResourceRequirements
        {
            Requests = new Dictionary<string, ResourceQuantity>
            {
                ["cpu"] = new(spec.Cpu),
                ["memory"] = new(spec.MemoryQuantity),
            },
            // No CPU limit: throttling a decode loop only adds latency. Memory is limited at the request: the runtime
            // sizes its KV cache from the cgroup limit, so request = limit keeps the plan and the scheduler in step.
            Limits = new Dictionary<string, ResourceQuantity> { ["memory"] = new(spec.MemoryQuantity) },
        };
        if (spec.Gpus > 0)
        {
            var gpus = new ResourceQuantity(spec.Gpus.ToString(CultureInfo.InvariantCulture));
            resources.Requests[GpuResource] = gpus;
            resources.Limits[GpuResource] = gpus;
        }
        var container = new V1Container
        {
            Name = "bento",
            Image = spec.Image,
            ImagePullPolicy = "IfNotPresent",
            Ports = spec.HostNetwork ? null : [new V1ContainerPort { Name = HttpPortName, ContainerPort = spec.Port, Protocol = "TCP" }],
            Env = spec.Env.Count == 0 ? null : spec.Env.Select(e => new V1EnvVar { Name = e.Name, Value = e.Value }).ToList(),
            Resources = resources,
            StartupProbe = new V1Probe
            {
                HttpGet = HttpGet(spec, ImageContract.ReadyPath),
                PeriodSeconds = DeploymentSpec.StartupPeriodSeconds,
                TimeoutSeconds = 5,
                FailureThreshold = Math.Max(1, (spec.StartupBudgetSeconds + DeploymentSpec.StartupPeriodSeconds - 1) / DeploymentSpec.StartupPeriodSeconds),
            },
            ReadinessProbe = new V1Probe { HttpGet = HttpGet(spec, ImageContract.ReadyPath), PeriodSeconds = 5, TimeoutSeconds = 5, FailureThreshold = 3 },
            LivenessProbe = new V1Probe
            {
                HttpGet = spec.Probes == ProbeKind.Http ? HttpGet(spec, ImageContract.HealthPath) : null,
                Exec = spec.Probes == ProbeKind.Exec ? new V1ExecAction { Command = [.. ImageContract.HealthcheckCommand] } : null,
                PeriodSeconds = 10,
                TimeoutSeconds = 5,
                FailureThreshold = 3,
            },
            SecurityContext = new V1SecurityContext
            {
                RunAsNonRoot = true,
                RunAsUser = ImageContract.UserId,
                RunAsGroup = ImageContract.GroupId,
                AllowPrivilegeEscalation = false,
                ReadOnlyRootFilesystem = true,
                Capabilities = new V1Capabilities { Drop = ["ALL"] },
            },
            VolumeMounts = spec.ModelArtifact is null
                ? [new V1VolumeMount { Name = "tmp", MountPath = ImageContract.TempDirectory }]
                : [new V1VolumeMount { Name = "tmp", MountPath = ImageContract.TempDirectory },
                   new V1VolumeMount { Name = ModelVolume, MountPath = ImageContract.ModelMountDirectory, ReadOnlyProperty = true }],
        };
        var pod = new V1PodSpec
        {
            Containers = [container],
            HostNetwork = spec.HostNetwork ? true : null,
            TerminationGracePeriodSeconds = spec.TerminationGraceSeconds,
            SecurityContext = new V1PodSecurityContext
            {
                RunAsNonRoot = true,
                RunAsUser = ImageContract.UserId,
                RunAsGroup = ImageContract.GroupId,
                FsGroup = ImageContract.GroupId,
                SeccompProfile = new V1SeccompProfile { Type = "RuntimeDefault" },
            },
            Volumes = spec.ModelArtifact is null
                ? [TmpVolume]
                // Kubernetes 1.35 ImageVolume: the kubelet pulls the artifact like an image and mounts it read-only; the
                // image's BENTO_MODEL_DIR points into it, and the runtime checks every file against bento.yaml.
                : [TmpVolume, new V1Volume { Name = ModelVolume, Image = new V1ImageVolumeSource { Reference = spec.ModelArtifact, PullPolicy = "IfNotPresent" } }],
            ImagePullSecrets = spec.PullSecrets.Count == 0 ? null : spec.PullSecrets.Select(s => new V1LocalObjectReference { Name = s }).ToList(),
        };
        return new V1Deployment
        {
            ApiVersion = "apps/v1",
            Kind = "Deployment",
            Metadata = Metadata(spec),
            Spec = new V1DeploymentSpec
            {
                Replicas = spec.Replicas,
                Selector = new V1LabelSelector { MatchLabels = SelectorLabels(spec) },
                // One new pod before an old one goes: capacity never drops during a rollout.
                Strategy = new V1DeploymentStrategy
                {
                    Type = "RollingUpdate",
                    RollingUpdate = new V1RollingUpdateDeployment { MaxSurge = 1, MaxUnavailable = 0 },
                },
                Template = new V1PodTemplateSpec
                {
                    Metadata = new V1ObjectMeta
                    {
                        Labels = Metadata(spec).Labels,
                        Annotations = new Dictionary<string, string>
                        {
                            ["prometheus.io/scrape"] = "true",
                            ["prometheus.io/port"] = spec.Port.ToString(CultureInfo.InvariantCulture),
                            ["prometheus.io/path"] = ImageContract.MetricsPath,
                            [ImageContract.Labels.Bento] = spec.BentoTag,
                        },
                    },
                    Spec = pod,
                },
            },
        };
    }

    /// <summary>Probes name the port by number: with host networking there is no named container port.</summary>
    private static V1HTTPGetAction HttpGet(DeploymentSpec spec, string path) => new() { Path = path, Port = spec.Port };

    public static V1Service Service(DeploymentSpec spec) => new()
    {
        ApiVersion = "v1",
        Kind = "Service",
        Metadata = Metadata(spec),
        Spec = new V1ServiceSpec
        {
            Type = "ClusterIP",
            Selector = SelectorLabels(spec),
            Ports = [new V1ServicePort { Name = HttpPortName, Port = spec.Port, TargetPort = spec.Port, Protocol = "TCP" }],
        },
    };

    /// <summary>maxUnavailable 1, not minAvailable: with one replica a minAvailable of 1 would block every node drain.</summary>
    public static V1PodDisruptionBudget DisruptionBudget(DeploymentSpec spec) => new()
    {
        ApiVersion = "policy/v1",
        Kind = "PodDisruptionBudget",
        Metadata = Metadata(spec),
        Spec = new V1PodDisruptionBudgetSpec { MaxUnavailable = 1, Selector = new V1LabelSelector { MatchLabels = SelectorLabels(spec) } },
    };

    /// <summary>Scales on requests waiting per pod (a pods metric served by a Prometheus adapter from /metrics).</summary>
    public static V2HorizontalPodAutoscaler Autoscaler(DeploymentSpec spec) => new()
    {
        ApiVersion = "autoscaling/v2",
        Kind = "HorizontalPodAutoscaler",
        Metadata = Metadata(spec),
        Spec = new V2HorizontalPodAutoscalerSpec
        {
            ScaleTargetRef = new V2CrossVersionObjectReference { ApiVersion = "apps/v1", Kind = "Deployment", Name = spec.Name },
            MinReplicas = spec.Autoscale!.Value.Min,
            MaxReplicas = spec.Autoscale!.Value.Max,
            Metrics =
            [
                new V2MetricSpec
                {
                    Type = "Pods",
                    Pods = new V2PodsMetricSource
                    {
                        Metric = new V2MetricIdentifier { Name = WaitingMetric },
                        Target = new V2MetricTarget { Type = "AverageValue", AverageValue = new ResourceQuantity(spec.AutoscaleWaiting.ToString(CultureInfo.InvariantCulture)) },
                    },
                },
            ],
        },
    };

    /// <summary>Multi-document YAML (one object per document), as kubectl apply -f reads it.</summary>
    public static string ToYaml(IEnumerable<object> objects) => string.Join("---\n", objects.Select(o => KubernetesYaml.Serialize(o).TrimEnd() + "\n"));

    /// <summary>A v1 List of the objects, as kubectl get -o json prints several.</summary>
    public static string ToJson(IEnumerable<object> objects)
    {
        var items = string.Join(",\n", objects.Select(o => KubernetesJson.Serialize(o)));
        var list = System.Text.Json.Nodes.JsonNode.Parse($"{{\"apiVersion\":\"v1\",\"kind\":\"List\",\"items\":[{items}]}}")!;
        return list.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }) + "\n";
    }
}
