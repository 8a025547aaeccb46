using System.CommandLine;
using System.Globalization;
using Bento.Core;
using Bento.Core.Serving;

namespace Bento.Cli.Commands;

/// <summary>
/// <c>bento fit TAG [--memory SIZE | --gpu NAME] [settings]</c>: prints the memory plan the runtime would make, so a
/// deployment can be sized before it starts; exits 1 when the model does not fit.
/// </summary>
public static class FitCommand
{
    public static Command Create()
    {
        var tag = new Argument<string>("TAG") { Description = "The bento to plan for" };
        var memory = new Option<string>("--memory") { Description = "Plan for a CPU machine with this much free memory, e.g. 24GiB (default: this machine)" };
        var gpu = new Option<string>("--gpu") { Description = $"Plan for a GPU: {string.Join(", ", DeviceMemory.KnownGpus.Keys)}" };
        var maxModelLen = new Option<int?>(SettingName.MaxModelLen.Flag) { Description = SettingName.MaxModelLen.Help };
        var maxNumSeqs = new Option<int?>(SettingName.MaxNumSeqs.Flag) { Description = SettingName.MaxNumSeqs.Help };
        var dtype = new Option<string>(SettingName.Dtype.Flag) { Description = SettingName.Dtype.Help };
        var utilization = new Option<double?>(SettingName.GpuMemoryUtilization.Flag) { Description = SettingName.GpuMemoryUtilization.Help };
        var kvCache = new Option<string>(SettingName.KvCacheMemory.Flag) { Description = SettingName.KvCacheMemory.Help };
        var eager = new Option<string>(SettingName.EnforceEager.Flag) { Description = "Plan with enforce_eager true (no CUDA graphs), false or auto (graphs only if their pool fits once the KV cache has its minimum)", HelpName = "true|false|auto" };
        var command = new Command("fit", "Show the memory plan (weights, activations, KV cache, CUDA graphs) for a device") { tag, memory, gpu, maxModelLen, maxNumSeqs, dtype, utilization, kvCache, eager };
        command.SetGuardedAction((parse, _) =>
        {
            var bento = CommandRunner.Store().Resolve(CommandRunner.Tag(parse, tag));
            var plan = BentoFit.Plan(bento.Manifest, bento.Directory, new FitOptions
            {
                Memory = Size(parse.GetValue(memory), "--memory"),
                Gpu = parse.GetValue(gpu),
                MaxModelLen = parse.GetValue(maxModelLen),
                MaxNumSeqs = parse.GetValue(maxNumSeqs),
                Dtype = parse.GetValue(dtype),
                GpuMemoryUtilization = parse.GetValue(utilization),
                KvCacheMemory = Size(parse.GetValue(kvCache), SettingName.KvCacheMemory.Flag),
                EnforceEager = parse.GetValue(eager) is { } e
                    ? EagerModes.TryParse(e) ?? throw new UsageException($"{SettingName.EnforceEager.Flag} '{e}' is not true, false or auto")
                    : null,
            });
            Console.Out.WriteLine(plan.Describe());
            if (plan.Fits)
                Console.Out.WriteLine($"KV cache: {plan.KvBlocks} blocks of {MemoryPlanner.BlockSize} tokens = {plan.KvTokens} tokens ({ByteSize.Format(plan.KvCacheBytes)}); " +
                                      $"{plan.Sequences} sequences of max_model_len {plan.MaxModelLen} at once, up to max_num_seqs {plan.MaxNumSeqs} shorter ones");
            Console.Out.WriteLine($"CUDA graphs: {(plan.CudaGraphs ? "on" : "off")} ({plan.GraphDecision})");
            foreach (var note in plan.Notes) Console.Out.WriteLine($"note: {note}");
            if (plan.GraphCaptures.Count > 0)
            {
                Console.Out.WriteLine("CUDA-graph pool after each capture (largest batch first):");
                foreach (var c in plan.GraphCaptures)
                    Console.Out.WriteLine($"  batch {c.BatchSize.ToString(CultureInfo.InvariantCulture),4}: {ByteSize.Format(c.PoolBytes)}");
            }
            if (!plan.Fits) throw new BentoException($"{bento.Manifest.Tag} does not fit: {plan.Problem}");
            return Task.FromResult(0);
        });
        return command;
    }

    private static long? Size(string? text, string flag) =>
        text is null ? null
        : ByteSize.TryParse(text, out var bytes) && bytes > 0 ? bytes
        : throw new UsageException($"{flag} '{text}' is not a memory size; use e.g. 24GiB, 512MiB or a number of bytes");
}
