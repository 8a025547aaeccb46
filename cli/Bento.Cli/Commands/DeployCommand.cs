using System.CommandLine;
using Bento.Deploy;

namespace Bento.Cli.Commands;

/// <summary>
/// <c>bento deploy TAG [--image REF] [options] [-o yaml|json] [--output-dir DIR] [--compose] [--apply [--context NAME]]</c>:
/// Kubernetes objects (or a compose file) for the bento's image, printed, written or applied.
/// </summary>
public static class DeployCommand
{
    public static Command Create()
    {
        var tag = new Argument<string>("TAG") { Description = "The bento to deploy" };
        tag.CompletionSources.Add(TagCompletion.Source);
        var image = new Option<string?>("--image") { Description = "Image to run (default: the bento's last pushed reference, pinned by digest)" };
        var modelArtifact = new Option<string?>("--model-artifact")
        {
            Description = "A slim image's model artifact (REGISTRY/REPOSITORY@sha256:...), mounted as an image volume (default: the one containerize --weights separate --push recorded)",
        };
        var requireDigest = new Option<bool>("--require-digest") { Description = "Refuse an --image that is not pinned by digest (REPOSITORY@sha256:...)" };
        var name = new Option<string?>("--name") { Description = "Name of the Deployment and Service (default: the bento's name)" };
        var ns = new Option<string?>("--namespace", "-n") { Description = "Namespace (default: default)" };
        var replicas = new Option<int?>("--replicas") { Description = "Replicas (default 1; not with --autoscale)" };
        var autoscale = new Option<string?>("--autoscale") { Description = $"MIN:MAX: add a HorizontalPodAutoscaler on {KubernetesObjects.WaitingMetric} per pod" };
        var cpu = new Option<string?>("--cpu") { Description = $"CPU request, e.g. 2 or 500m (default {DeploymentSpec.DefaultCpu}; no CPU limit)" };
        var memory = new Option<string?>("--memory") { Description = "Memory request and limit, e.g. 8GiB (default: weights + the KV cache for max_num_seqs full sequences + runtime)" };
        var gpus = new Option<int>("--gpus") { Description = "GPUs per pod (nvidia.com/gpu); refused for a CPU-only image" };
        var env = new Option<string[]>("--env", "-e") { Description = "NAME=VALUE for the container (repeatable), e.g. BENTO_ENFORCE_EAGER=1", AllowMultipleArgumentsPerToken = false };
        var pullSecrets = new Option<string[]>("--pull-secret") { Description = "imagePullSecrets entry (repeatable)" };
        var hostNetwork = new Option<bool>("--host-network") { Description = "Use the node's network (no container port mapping)" };
        var probes = new Option<string>("--probes") { Description = "Liveness probe: http (GET /health) or exec (the runtime's own --healthcheck, for engines without httpGet)", DefaultValueFactory = _ => "http" };
        probes.AcceptOnlyFromAmong("http", "exec");
        var output = new Option<string>("--output", "-o") { Description = "yaml or json", DefaultValueFactory = _ => "yaml" };
        output.AcceptOnlyFromAmong("yaml", "json");
        var outputDir = new Option<string?>("--output-dir") { Description = "Write one file per object into this directory instead of stdout" };
        var compose = new Option<bool>("--compose") { Description = "A compose file for one host (docker compose / docker-compose) instead of Kubernetes objects" };
        var apply = new Option<bool>("--apply") { Description = "Server-side apply to the cluster of the kubeconfig ($KUBECONFIG or ~/.kube/config)" };
        var context = new Option<string?>("--context") { Description = "kubeconfig context for --apply" };
        var insecure = new Option<bool>("--insecure") { Description = "Allow plain http or untrusted TLS when reading the image's labels from its registry (--gpus)" };
        var command = new Command("deploy", "Kubernetes objects (Deployment, Service, PodDisruptionBudget, HorizontalPodAutoscaler) or a compose file for the bento's image")
        {
            tag, image, modelArtifact, requireDigest, name, ns, replicas, autoscale, cpu, memory, gpus, env, pullSecrets, hostNetwork, probes, output, outputDir, compose, apply, context, insecure,
        };
        command.SetGuardedAction(async (parse, ct) =>
        {
            var request = DeployRequest.Parse(parse.GetValue(image), parse.GetValue(requireDigest), parse.GetValue(name), parse.GetValue(ns), parse.GetValue(replicas),
                parse.GetValue(autoscale), parse.GetValue(cpu), parse.GetValue(memory), parse.GetValue(gpus), parse.GetValue(env) ?? [], parse.GetValue(pullSecrets) ?? [],
                parse.GetValue(hostNetwork), parse.GetValue(probes)!) with { ModelArtifact = parse.GetValue(modelArtifact) };
            if (parse.GetValue(compose) && parse.GetValue(apply)) throw new Bento.Core.UsageException("--apply sends Kubernetes objects; it cannot be combined with --compose");
            var store = CommandRunner.Store();
            var bento = store.Resolve(CommandRunner.Tag(parse, tag));
            var spec = await new DeploymentResolver(store, DeploymentResolver.RegistryLabels(parse.GetValue(insecure))).ResolveAsync(bento, request, ct);
            var format = parse.GetValue(output)!;
            var dir = parse.GetValue(outputDir);
            if (parse.GetValue(compose))
            {
                var file = ComposeFile.Create(spec);
                if (dir is null) Console.Out.Write(file);
                else foreach (var p in await DeployOutput.WriteAsync(dir, [new DeployDocument("compose.yaml", file)], ct)) Console.Error.WriteLine($"wrote {p}");
                return 0;
            }
            var objects = KubernetesObjects.Create(spec);
            if (parse.GetValue(apply))
            {
                foreach (var line in await KubernetesApplier.FromKubeconfig(parse.GetValue(context)).ApplyAsync(objects, ct)) Console.Out.WriteLine($"{line} serverside-applied");
                return 0;
            }
            if (dir is null) Console.Out.Write(DeployOutput.Joined(objects, format));
            else foreach (var p in await DeployOutput.WriteAsync(dir, DeployOutput.Kubernetes(objects, format), ct)) Console.Error.WriteLine($"wrote {p}");
            return 0;
        });
        return command;
    }
}
