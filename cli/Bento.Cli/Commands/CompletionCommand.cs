using System.CommandLine;
using Bento.Cli.Completion;

namespace Bento.Cli.Commands;

/// <summary>
/// <c>bento completion bash|zsh|fish</c> prints a script that completes commands, options and store tags by asking
/// the hidden <c>bento __complete -- LINE</c> (System.CommandLine's own completion, plus the tags in the store).
/// </summary>
public static class CompletionCommand
{
    public static Command Create()
    {
        var shell = new Argument<string>("SHELL") { Description = "bash, zsh or fish" };
        shell.AcceptOnlyFromAmong([.. CompletionScripts.Shells]);
        var command = new Command("completion", "Print a shell completion script: source <(bento completion bash)") { shell };
        command.SetGuardedAction((parse, _) =>
        {
            Console.Out.Write(CompletionScripts.For(parse.GetValue(shell)!));
            return Task.FromResult(0);
        });
        return command;
    }

    /// <summary>The hidden command the scripts call: prints one candidate per line for the words before the cursor.</summary>
    public static Command CreateHidden(RootCommand root)
    {
        var line = new Argument<string[]>("LINE") { Arity = ArgumentArity.ZeroOrMore };
        var command = new Command(ShellCompleter.CommandName, "Complete a bento command line (used by the completion scripts)") { line };
        command.Hidden = true;
        command.SetAction(parse =>
        {
            foreach (var candidate in ShellCompleter.Complete(root, string.Join(' ', parse.GetValue(line) ?? [])))
                Console.Out.WriteLine(candidate);
            return 0;
        });
        return command;
    }
}
