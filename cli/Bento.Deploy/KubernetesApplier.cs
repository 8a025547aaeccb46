using System.Net;
using Bento.Core;
using k8s;
using k8s.Autorest;
using k8s.Models;

namespace Bento.Deploy;

/// <summary>
/// <c>bento deploy --apply</c>: server-side apply of the generated objects (field manager "bento", conflicts forced, as
/// <c>kubectl apply --server-side --force-conflicts</c>), with the usual kubeconfig ($KUBECONFIG, ~/.kube/config, or the
/// in-cluster service account) and an optional context. Returns one line per object applied.
/// </summary>
public sealed class KubernetesApplier(IKubernetes client, string server)
{
    public static KubernetesApplier FromKubeconfig(string? context)
    {
        KubernetesClientConfiguration config;
        try
        {
            config = KubernetesClientConfiguration.IsInCluster() && context is null && Environment.GetEnvironmentVariable("KUBECONFIG") is null
                ? KubernetesClientConfiguration.InClusterConfig()
                : KubernetesClientConfiguration.BuildConfigFromConfigFile(
                    kubeconfigPath: Environment.GetEnvironmentVariable("KUBECONFIG")?.Split(Path.PathSeparator).FirstOrDefault(p => p.Length > 0),
                    currentContext: context);
        }
        catch (Exception e) when (e is k8s.Exceptions.KubeConfigException or FileNotFoundException or IOException)
        {
            throw new BentoException($"no usable kubeconfig{(context is null ? "" : $" context '{context}'")}: {e.Message}; set KUBECONFIG or pass --context NAME");
        }
        return new KubernetesApplier(new Kubernetes(config), config.Host);
    }

    public async Task<IReadOnlyList<string>> ApplyAsync(IReadOnlyList<IKubernetesObject<V1ObjectMeta>> objects, CancellationToken ct)
    {
        var applied = new List<string>();
        foreach (var o in objects)
        {
            // JSON is YAML: the client sends it as application/apply-patch+yaml, which the API server parses either way.
            var patch = new V1Patch(KubernetesJson.Serialize(o), V1Patch.PatchType.ApplyPatch);
            var (name, ns) = (o.Metadata.Name, o.Metadata.NamespaceProperty);
            try
            {
                _ = o switch
                {
                    V1Deployment => (object)await client.AppsV1.PatchNamespacedDeploymentAsync(patch, name, ns, fieldManager: DeploymentSpec.FieldManager, force: true, cancellationToken: ct),
                    V1Service => await client.CoreV1.PatchNamespacedServiceAsync(patch, name, ns, fieldManager: DeploymentSpec.FieldManager, force: true, cancellationToken: ct),
                    V1PodDisruptionBudget => await client.PolicyV1.PatchNamespacedPodDisruptionBudgetAsync(patch, name, ns, fieldManager: DeploymentSpec.FieldManager, force: true, cancellationToken: ct),
                    V2HorizontalPodAutoscaler => await client.AutoscalingV2.PatchNamespacedHorizontalPodAutoscalerAsync(patch, name, ns, fieldManager: DeploymentSpec.FieldManager, force: true, cancellationToken: ct),
                    _ => throw new InvalidOperationException($"no apply for {o.Kind}"),
                };
            }
            catch (HttpOperationException e)
            {
                throw new BentoException($"the API server at {server} refused {o.Kind} {ns}/{name}: {(int)e.Response.StatusCode} {Reason(e)}" +
                    (applied.Count > 0 ? $" (already applied: {string.Join(", ", applied)})" : ""));
            }
            catch (HttpRequestException e)
            {
                throw new BentoException($"cannot reach the Kubernetes API server at {server}: {e.InnerException?.Message ?? e.Message}; check KUBECONFIG, --context and the network" +
                    (applied.Count > 0 ? $" (already applied: {string.Join(", ", applied)})" : ""));
            }
            applied.Add($"{o.Kind.ToLowerInvariant()}/{name}");
        }
        return applied;
    }

    private static string Reason(HttpOperationException e) =>
        e.Response.StatusCode == HttpStatusCode.Forbidden ? "forbidden (the kubeconfig's user may not patch it)" : e.Response.Content is { Length: > 0 } c ? c : e.Message;
}
