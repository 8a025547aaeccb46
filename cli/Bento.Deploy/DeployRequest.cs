using System.Globalization;
using Bento.Core;
using Bento.Core.Serving;

namespace Bento.Deploy;

/// <summary>How liveness is probed: Kubernetes' httpGet on /health, or the runtime's own probe run in the container
/// (for engines that turn httpGet into a curl the image does not have, such as podman kube play).</summary>
public enum ProbeKind { Http, Exec }

/// <summary><c>bento deploy</c>'s options, checked: every mistake is a <see cref="UsageException"/> naming the value.</summary>
public sealed record DeployRequest
{
    /// <summary>The image to run; null: the bento's last pushed reference (pinned by digest).</summary>
    public string? Image { get; init; }

    /// <summary>A slim image's model artifact to mount (REGISTRY/REPOSITORY@sha256:...); default: the one recorded with the image.</summary>
    public string? ModelArtifact { get; init; }
    public bool RequireDigest { get; init; }
    public string? Name { get; init; }
    public string Namespace { get; init; } = "default";
    public int? Replicas { get; init; }
    public (int Min, int Max)? Autoscale { get; init; }
    /// <summary>Average <c>vllm:num_requests_waiting</c> per pod the autoscaler keeps.</summary>
    public int AutoscaleWaiting { get; init; } = 5;
    public string? Cpu { get; init; }
    public long? Memory { get; init; }
    public int Gpus { get; init; }
    public IReadOnlyList<EnvOverride> Env { get; init; } = [];
    public IReadOnlyList<string> PullSecrets { get; init; } = [];
    public bool HostNetwork { get; init; }
    public ProbeKind Probes { get; init; } = ProbeKind.Http;

    public static DeployRequest Parse(string? image, bool requireDigest, string? name, string? @namespace, int? replicas, string? autoscale,
        string? cpu, string? memory, int gpus, IEnumerable<string> env, IEnumerable<string> pullSecrets, bool hostNetwork, string probes)
    {
        if (name is not null) KubernetesNames.RequireObjectName(name, "--name");
        var ns = @namespace ?? "default";
        KubernetesNames.RequireNamespace(ns);
        if (replicas is < 0 or > 10000) throw new UsageException($"--replicas {replicas} is out of range; use 0 to 10000");
        (int, int)? scale = null;
        if (autoscale is not null)
        {
            var parts = autoscale.Split(':');
            if (parts.Length != 2 || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var min) ||
                !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var max) || min < 1 || max < min)
                throw new UsageException($"--autoscale '{autoscale}' is not MIN:MAX with 1 <= MIN <= MAX, e.g. --autoscale 1:4");
            if (replicas is not null) throw new UsageException("give --replicas or --autoscale, not both (the autoscaler owns the replica count)");
            scale = (min, max);
        }
        if (cpu is not null && !IsCpuQuantity(cpu)) throw new UsageException($"--cpu '{cpu}' is not a CPU quantity; use cores (2, 0.5) or millicores (500m)");
        long? memoryBytes = null;
        if (memory is not null)
        {
            if (!ByteSize.TryParse(memory, out var bytes) || bytes < 64L << 20)
                throw new UsageException($"--memory '{memory}' is not a size of at least 64MiB; use e.g. 8GiB or 512MiB");
            memoryBytes = bytes;
        }
        if (gpus is < 0 or > 64) throw new UsageException($"--gpus {gpus} is out of range; use 0 to 64");
        var secrets = pullSecrets.ToList();
        secrets.ForEach(KubernetesNames.RequireSecretName);
        var overrides = env.Select(EnvOverride.Parse).ToList();
        var duplicate = overrides.GroupBy(o => o.Name).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null) throw new UsageException($"--env {duplicate.Key} is given {duplicate.Count()} times; give each variable once");
        var probeKind = probes switch
        {
            "http" => ProbeKind.Http,
            "exec" => ProbeKind.Exec,
            _ => throw new UsageException($"--probes '{probes}' is not http or exec"),
        };
        return new DeployRequest
        {
            Image = image, RequireDigest = requireDigest, Name = name, Namespace = ns, Replicas = replicas, Autoscale = scale, Cpu = cpu,
            Memory = memoryBytes, Gpus = gpus, Env = overrides, PullSecrets = secrets, HostNetwork = hostNetwork, Probes = probeKind,
        };
    }

    private static bool IsCpuQuantity(string text) =>
        System.Text.RegularExpressions.Regex.IsMatch(text, "^([0-9]+(\\.[0-9]+)?|[0-9]+m)$") && text != "0" && text != "0m";
}
