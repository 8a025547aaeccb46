using System.Globalization;

namespace Bento.Core.Serving;

/// <summary>
/// This machine's memory as the CPU runtime may use it: /proc/meminfo's MemTotal and MemAvailable, bounded by the
/// cgroup's limit when the process runs in a container (a pod's memory limit is what the OOM killer enforces, not
/// the node's RAM).
/// </summary>
public static class HostMemory
{
    public static DeviceMemory Measure()
    {
        var info = ReadMeminfo();
        var total = info.GetValueOrDefault("MemTotal");
        var available = info.GetValueOrDefault("MemAvailable", total);
        if (CgroupLimit() is var (limit, used) && limit < total)
        {
            total = limit;
            available = Math.Min(available, Math.Max(0, limit - used));
        }
        return new DeviceMemory("cpu", Environment.MachineName, total, available);
    }

    private static Dictionary<string, long> ReadMeminfo()
    {
        var values = new Dictionary<string, long>(StringComparer.Ordinal);
        try
        {
            foreach (var line in File.ReadLines("/proc/meminfo"))
            {
                var parts = line.Split(':', 2);
                if (parts.Length != 2) continue;
                var number = parts[1].Trim().Split(' ')[0];
                if (long.TryParse(number, NumberStyles.None, CultureInfo.InvariantCulture, out var kib)) values[parts[0]] = kib * 1024;
            }
        }
        catch (IOException) { }
        return values;
    }

    /// <summary>cgroup v2 (memory.max, memory.current), else v1 (memory.limit_in_bytes, memory.usage_in_bytes); no limit reads as long.MaxValue.</summary>
    private static (long Limit, long Used) CgroupLimit()
    {
        foreach (var (limitFile, usedFile) in new[]
                 {
                     ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                     ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"),
                 })
        {
            try
            {
                if (!File.Exists(limitFile)) continue;
                var text = File.ReadAllText(limitFile).Trim();
                if (text == "max" || !long.TryParse(text, CultureInfo.InvariantCulture, out var limit) || limit >= 1L << 60) return (long.MaxValue, 0);
                var used = File.Exists(usedFile) && long.TryParse(File.ReadAllText(usedFile).Trim(), CultureInfo.InvariantCulture, out var u) ? u : 0;
                return (limit, used);
            }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
        return (long.MaxValue, 0);
    }
}
