using System.CommandLine;
using Bento.Core.Store;

namespace Bento.Cli.Commands;

/// <summary><c>bento verify [TAG]</c>: re-hash the store and name what is corrupt (exit 1 if anything is).</summary>
public static class VerifyCommand
{
    public static Command Create()
    {
        var tag = new Argument<string?>("TAG") { Description = "Only this bento (default: all)", Arity = ArgumentArity.ZeroOrOne };
        tag.CompletionSources.Add(TagCompletion.Source);
        var command = new Command("verify", "Re-hash bentos in the store and report corruption") { tag };
        command.SetGuardedAction(async (parse, ct) =>
        {
            var store = CommandRunner.Store();
            var text = parse.GetValue(tag);
            var bentos = text is null ? store.List().ToList() : [store.Resolve(CommandRunner.Tag(parse, text))];
            var problems = await new StoreVerifier(store).VerifyAsync(bentos, t => Console.Error.WriteLine($"checked {t}"), ct);
            foreach (var problem in problems) Console.Out.WriteLine($"CORRUPT {problem}");
            if (problems.Count > 0)
            {
                Console.Error.WriteLine($"error: {problems.Count} problem(s) in {problems.Select(p => p.Tag).Distinct().Count()} bento(s); rebuild them (bento build) or re-import them (bento import), which repairs them");
                return 1;
            }
            Console.Out.WriteLine($"OK {bentos.Count} bento(s) verified");
            return 0;
        });
        return command;
    }
}
