using System.Globalization;
using System.Text.Json.Nodes;
using Bento.Core.Manifest;
using Bento.Core.Serving;

namespace Bento.Deploy;

/// <summary>
/// <c>bento deploy --compose</c>: the same deployment for a single host (Compose specification, read by docker compose
/// and docker-compose 1.27+): the image, env overrides, the image contract's user, read-only root with a tmpfs /tmp,
/// the runtime's own healthcheck, the port, the drain time and the memory limit.
/// </summary>
public static class ComposeFile
{
    public static string Create(DeploymentSpec spec)
    {
        if (spec.ModelArtifact is not null)
            throw new Bento.Core.BentoException($"{spec.Image} is a slim image (its weights are the model artifact {spec.ModelArtifact}), and compose cannot mount " +
                                                $"an OCI artifact; containerize without --weights separate for compose, or run it with the model directory mounted at {ImageContract.ModelMountDirectory}");
        static string Seconds(TimeSpan t) => $"{(int)t.TotalSeconds}s";
        var service = new JsonObject
        {
            ["image"] = spec.Image,
            ["user"] = ImageContract.User,
            ["read_only"] = true,
            ["tmpfs"] = new JsonArray(ImageContract.TempDirectory),
            ["restart"] = "unless-stopped",
            ["stop_signal"] = ImageContract.StopSignal,
            ["stop_grace_period"] = $"{spec.TerminationGraceSeconds}s",
            ["healthcheck"] = new JsonObject
            {
                ["test"] = new JsonArray(["CMD", .. ImageContract.HealthcheckCommand.Select(c => (JsonNode?)c)]),
                ["interval"] = Seconds(ImageContract.HealthcheckInterval),
                ["timeout"] = Seconds(ImageContract.HealthcheckTimeout),
                ["retries"] = ImageContract.HealthcheckRetries,
                ["start_period"] = $"{spec.StartupBudgetSeconds}s",
            },
            ["mem_limit"] = spec.MemoryQuantity.Replace("Mi", "m", StringComparison.Ordinal),
            ["cpus"] = CpuCount(spec.Cpu),
            ["labels"] = new JsonObject { [ImageContract.Labels.Bento] = spec.BentoTag },
        };
        if (spec.Env.Count > 0)
        {
            var env = new JsonObject();
            foreach (var e in spec.Env) env[e.Name] = e.Value;
            service["environment"] = env;
        }
        if (spec.HostNetwork) service["network_mode"] = "host";
        else service["ports"] = new JsonArray($"{spec.Port}:{spec.Port}");
        if (spec.Gpus > 0)
            service["deploy"] = new JsonObject
            {
                ["resources"] = new JsonObject
                {
                    ["reservations"] = new JsonObject
                    {
                        ["devices"] = new JsonArray(new JsonObject { ["driver"] = "nvidia", ["count"] = spec.Gpus, ["capabilities"] = new JsonArray("gpu") }),
                    },
                },
            };
        var document = new JsonObject { ["services"] = new JsonObject { [spec.Name] = service } };
        return JsonYaml.ToYaml(document);
    }

    /// <summary>Compose's cpus is a number of cores; Kubernetes' millicores (500m) become 0.5.</summary>
    private static double CpuCount(string cpu) => cpu.EndsWith('m')
        ? int.Parse(cpu[..^1], CultureInfo.InvariantCulture) / 1000.0
        : double.Parse(cpu, CultureInfo.InvariantCulture);
}
