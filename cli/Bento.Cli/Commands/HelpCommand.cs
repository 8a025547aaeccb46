using System.CommandLine;
using Bento.Core;

namespace Bento.Cli.Commands;

/// <summary><c>bento help [COMMAND]</c>: the same text as <c>bento [COMMAND] --help</c>.</summary>
public static class HelpCommand
{
    public static Command Create(RootCommand root)
    {
        var name = new Argument<string[]>("COMMAND") { Description = "The command to describe", Arity = ArgumentArity.ZeroOrMore };
        name.CompletionSources.Add(_ => root.Subcommands.Where(c => !c.Hidden).Select(c => new System.CommandLine.Completions.CompletionItem(c.Name)));
        var command = new Command("help", "Show help for bento or one of its commands") { name };
        command.SetGuardedAction(async (parse, ct) =>
        {
            var words = parse.GetValue(name) ?? [];
            Command current = root;
            foreach (var word in words)
            {
                current = current.Subcommands.FirstOrDefault(c => !c.Hidden && (c.Name == word || c.Aliases.Contains(word)))
                          ?? throw UnknownCommand(current, word);
            }
            return await root.Parse([.. words, "--help"]).InvokeAsync(cancellationToken: ct);
        });
        return command;
    }

    private static UsageException UnknownCommand(Command parent, string word)
    {
        var hint = Core.Spec.Suggest.Closest(word, parent.Subcommands.Where(c => !c.Hidden).Select(c => c.Name));
        return new UsageException($"no command '{word}'" + (hint is null ? "" : $"; did you mean '{hint}'?") + " (see 'bento help')");
    }
}
