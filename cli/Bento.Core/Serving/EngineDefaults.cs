namespace Bento.Core.Serving;

/// <summary>
/// Built-in values used when neither the bento, the environment nor the command line sets a setting. They match what
/// the builder writes into a manifest when the bentofile is silent, so a bento and a bare start behave alike.
/// </summary>
public static class EngineDefaults
{
    public const EagerMode EnforceEager = EagerMode.False;
    /// <summary>Null: the engine takes the context length from the model's config.json when it loads the model.</summary>
    public static readonly int? MaxModelLen = null;
    public const int MaxNumSeqs = 16;
    public const string Dtype = "auto";
    public const double GpuMemoryUtilization = 0.9;
    public const int Port = 3000;
    /// <summary>All interfaces, because the runtime normally runs in a container whose port is published.</summary>
    public const string Host = "0.0.0.0";
    /// <summary>No key: requests are not authenticated unless the operator sets one.</summary>
    public static readonly string? ApiKey = null;
    /// <summary>Seconds of draining after SIGTERM: inside Kubernetes' default 30 s grace period, with room to exit.</summary>
    public const int ShutdownTimeout = 25;
    /// <summary>8 MiB: far more than a prompt of any context length we serve needs, far less than a memory bomb.</summary>
    public const int MaxRequestBytes = 8 << 20;
}
