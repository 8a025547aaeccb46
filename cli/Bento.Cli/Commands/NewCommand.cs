using System.CommandLine;
using Bento.Core.Spec;

namespace Bento.Cli.Commands;

/// <summary><c>bento new NAME [DIR]</c>: scaffold a bentofile and README from templates/new.</summary>
public static class NewCommand
{
    public static Command Create()
    {
        var name = new Argument<string>("NAME") { Description = "The bento name (lowercase letters, digits, '_', '.', '-')" };
        var directory = new Argument<string?>("DIR") { Description = "Where to create it (default: ./NAME)", Arity = ArgumentArity.ZeroOrOne };
        var command = new Command("new", "Scaffold a new bentofile.yaml and README.md") { name, directory };
        command.SetGuardedAction((parse, _) =>
        {
            var bentoName = parse.GetValue(name)!;
            var target = parse.GetValue(directory) ?? bentoName;
            foreach (var file in Scaffold.Create(bentoName, target)) Console.Out.WriteLine(file);
            return Task.FromResult(0);
        });
        return command;
    }
}
