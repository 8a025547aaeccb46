using System.CommandLine;
using Bento.Cli;
using Bento.Cli.Commands;

// Thin wiring only: each command lives in Commands/, and all logic in Bento.Core.
var root = new RootCommand("BentoBuilder: package Hugging Face Llama models into versioned bentos and OCI images");
root.Options.Add(CommandRunner.Verbose);
foreach (var command in new[]
         {
             BuildCommand.Create(), ListCommand.Create(), GetCommand.Create(), DeleteCommand.Create(),
             ExportCommand.Create(), ImportCommand.Create(), VerifyCommand.Create(), NewCommand.Create(), ServeCommand.Create(), FitCommand.Create(), LoginCommand.Create(), LogoutCommand.Create(), ContainerizeCommand.Create(), PushCommand.Create(), PullCommand.Create(), DeployCommand.Create(),
             HelpCommand.Create(root), CompletionCommand.Create(), CompletionCommand.CreateHidden(root),
         })
    root.Subcommands.Add(command);

var parsed = root.Parse(args);
if (parsed.Errors.Count > 0) return UsageErrors.Report(parsed); // one line, with a "did you mean"
var invocation = new InvocationConfiguration { EnableDefaultExceptionHandler = false };
// `bento serve` forwards termination signals to the runtime and waits for it; the default handler would instead
// exit this process two seconds after SIGTERM and leave the runtime running.
if (ServeCommand.HandlesSignals(parsed)) invocation.ProcessTerminationTimeout = null;
return await parsed.InvokeAsync(invocation);
