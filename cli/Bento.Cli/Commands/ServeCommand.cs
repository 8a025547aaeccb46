using System.CommandLine;
using System.CommandLine.Parsing;
using System.Diagnostics;
using System.Runtime.InteropServices;
using Bento.Core;
using Bento.Core.IO;
using Bento.Core.Serving;

namespace Bento.Cli.Commands;

/// <summary>
/// <c>bento serve TAG</c>: resolves the bento in the store and runs the runtime on it — the same executable and
/// settings resolution a container image runs. The runtime is a separate program (it carries LibTorch; the CLI does
/// not), started with this process's stdio; its exit code is ours. The options are declared from the runtime's
/// setting table (<see cref="SettingName"/>), may stand before or after the tag, and are forwarded by name.
/// SIGINT, SIGTERM, SIGQUIT and SIGHUP are passed on to the runtime, which drains and exits; this process waits for it.
/// </summary>
public static class ServeCommand
{
    /// <summary>Linux numbers of the signals forwarded to the runtime.</summary>
    private static readonly (PosixSignal Signal, int Number)[] Forwarded =
        [(PosixSignal.SIGINT, 2), (PosixSignal.SIGTERM, 15), (PosixSignal.SIGQUIT, 3), (PosixSignal.SIGHUP, 1)];

    public const string Name = "serve";

    public static Command Create()
    {
        var tag = new Argument<string>("TAG") { Description = "The bento to serve (NAME, NAME:VERSION, ...)" };
        var command = new Command(Name, "Serve a bento with the OpenAI-compatible runtime") { tag };
        var settings = new List<(Option Option, SettingName Setting)>();
        foreach (var setting in SettingName.All)
        {
            var description = $"{setting.Help} (env {setting.Env})";
            Option option = setting.IsSwitch
                ? new Option<bool>(setting.Flag) { Description = description }
                : new Option<string>(setting.Flag) { Description = description, HelpName = setting.Key.ToUpperInvariant() };
            command.Options.Add(option);
            settings.Add((option, setting));
        }
        var noEnforceEager = new Option<bool>(SettingName.NoEnforceEagerFlag) { Description = "Allow CUDA graphs (same precedence as --enforce-eager)" };
        command.Options.Add(noEnforceEager);
        // enforce_eager's third value. The switch stays a boolean option (a bare --enforce-eager before the tag must
        // not swallow the tag), so the one spelling with a value that is not a boolean is its own hidden token.
        var autoEager = new Option<bool>(AutoEagerFlag) { Description = "Let the memory planner decide on CUDA graphs", Hidden = true };
        command.Options.Add(autoEager);

        command.SetGuardedAction(async (parse, _) =>
        {
            var bento = CommandRunner.Store().Resolve(CommandRunner.Tag(parse, tag));
            var arguments = RuntimeArguments(parse, settings, noEnforceEager, autoEager);
            var start = new ProcessStartInfo("dotnet") { UseShellExecute = false };
            start.ArgumentList.Add(LocateRuntime());
            start.ArgumentList.Add("--bento");
            start.ArgumentList.Add(bento.Directory);
            start.ArgumentList.Add("--parent-pid");
            start.ArgumentList.Add(Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture));
            foreach (var argument in arguments) start.ArgumentList.Add(argument);
            return await RunForwardingSignalsAsync(start);
        });
        return command;
    }

    /// <summary>True for the commands whose signals this class handles (the host must not install its own handler).</summary>
    public static bool HandlesSignals(ParseResult parse) => parse.CommandResult.Command.Name == Name;

    /// <summary>
    /// The setting flags as the user gave them, in <c>--flag=value</c> form so a value that starts with '-' stays a
    /// value. Values are passed as typed: the runtime validates them with the same messages as its variables.
    /// </summary>
    /// <summary><c>--enforce-eager=auto</c>, matched as one token.</summary>
    public static readonly string AutoEagerFlag = $"{SettingName.EnforceEager.Flag}={EagerModes.AutoWord}";

    public static IReadOnlyList<string> RuntimeArguments(ParseResult parse, IReadOnlyList<(Option Option, SettingName Setting)> settings, Option<bool> noEnforceEager, Option<bool>? autoEager = null)
    {
        var arguments = new List<string>();
        var eagerGiven = false;
        foreach (var (option, setting) in settings)
        {
            if (parse.GetResult(option) is not { Implicit: false } result) continue;
            if (setting.IsSwitch)
            {
                eagerGiven = true;
                arguments.Add($"{setting.Flag}={(parse.GetValue((Option<bool>)option) ? "true" : "false")}");
            }
            else arguments.Add($"{setting.Flag}={result.Tokens[^1].Value}");
        }
        if (parse.GetResult(noEnforceEager) is { Implicit: false })
        {
            if (eagerGiven) throw new UsageException($"give {SettingName.EnforceEager.Flag} or {SettingName.NoEnforceEagerFlag}, not both");
            eagerGiven = true;
            arguments.Add(parse.GetValue(noEnforceEager) ? SettingName.NoEnforceEagerFlag : $"{SettingName.EnforceEager.Flag}=true");
        }
        if (autoEager is not null && parse.GetResult(autoEager) is { Implicit: false })
        {
            if (eagerGiven) throw new UsageException($"give one of {SettingName.EnforceEager.Flag}[=true|false|auto] or {SettingName.NoEnforceEagerFlag}, not several");
            arguments.Add(AutoEagerFlag);
        }
        return arguments;
    }

    /// <summary>
    /// Runs the runtime and waits for it, passing on every termination signal instead of dying on it: a supervisor's
    /// SIGTERM to this pid reaches the runtime, which drains and exits, and only then does this process exit.
    /// </summary>
    private static async Task<int> RunForwardingSignalsAsync(ProcessStartInfo start)
    {
        using var process = Process.Start(start) ?? throw new BentoException("could not start the runtime");
        var registrations = Forwarded.Select(f => PosixSignalRegistration.Create(f.Signal, context =>
        {
            context.Cancel = true;
            Posix.Signal(process.Id, f.Number);
        })).ToList();
        try
        {
            await process.WaitForExitAsync();
            return process.ExitCode;
        }
        finally
        {
            foreach (var registration in registrations) registration.Dispose();
        }
    }

    /// <summary>BENTO_RUNTIME, else the runtime the launcher built next to the CLI (.build/runtime).</summary>
    private static string LocateRuntime()
    {
        var configured = Environment.GetEnvironmentVariable("BENTO_RUNTIME");
        var candidate = !string.IsNullOrEmpty(configured)
            ? configured
            : Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "..", "runtime", "bento-runtime.dll"));
        if (!File.Exists(candidate))
            throw new BentoException($"the runtime was not found at {candidate}; run 'bento serve' through the ./bento launcher (it builds the runtime) or set BENTO_RUNTIME");
        return candidate;
    }
}
